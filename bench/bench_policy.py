"""Policy decisions: bare regopy vs a full decision through the engine interface.

``policy-engine``
    The access entry point evaluated with regopy directly (``set_input`` +
    ``query_bundle_entrypoint`` + reading the JSON text) against a full decision through
    :class:`policies.engine.EmbeddedEngine` with its input assembled from catalog fields
    and an actor (:mod:`policies.inputs`) and the result parsed and checked. One thread,
    ``BENCH_POLICY_DECISIONS`` decisions (default 20,000) each way: decisions per second,
    and the full/bare time ratio against the 1.5x limit; decisions per second of the full
    path against the 10,000/s target.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time
from typing import Any

from bench.harness import Metric, benchmark

OVERHEAD_LIMIT = 1.5
DECISIONS_PER_SECOND = 10_000


def _questions(count: int) -> list[tuple[Any, Any, list[Any]]]:
    """(actor, purpose, fields) triples of catalog objects, varied, reproducible."""
    import yaml

    from consent.catalog.loader import DEFAULT_CATALOG_PATH
    from consent.catalog.models import CatalogField, Purpose
    from governance.auth.actors import Actor
    from governance.auth.permissions import Role

    catalog = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    fields = [
        CatalogField(
            **{
                k: f[k]
                for k in (
                    "name",
                    "category",
                    "tier",
                    "classification",
                    "pipl_sensitive",
                    "free_text",
                )
            }
        )
        for f in catalog["fields"]
    ]
    purposes = [
        Purpose(id=p["id"], legal_basis=p["legal_basis"], separate_consent=p["separate_consent"])
        for p in catalog["purposes"]
    ]
    now = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    actors = [
        Actor(type="operator", id="7", roles=frozenset({Role.CUSTOMER_SERVICE}), mfa_at=now),
        Actor(type="operator", id="8", roles=frozenset({Role.MARKETING})),
        Actor(
            type="service", id="gk_fictional", purposes=frozenset({"marketing_push", "analytics"})
        ),
    ]
    rng = random.Random(5)
    return [
        (rng.choice(actors), rng.choice(purposes), rng.sample(fields, rng.randint(1, 6)))
        for _ in range(count)
    ]


def _assemble(actor: Any, purpose: Any, fields: list[Any], now: dt.datetime) -> dict[str, Any]:
    from policies.inputs import LOCAL_ZONE, actor_input, field_input

    local = now.astimezone(LOCAL_ZONE)
    return {
        "actor": actor_input(actor, now),
        "purpose": {
            "id": purpose.id,
            "legal_basis": purpose.legal_basis,
            "separate_consent": purpose.separate_consent,
        },
        "consent": {"valid": True, "reason": "valid", "tier": "behaviour", "by_guardian": False},
        "subject": {"minor": False},
        "personalised_recommendation": True,
        "fields": [field_input(f) for f in fields],
        "context": {
            "hour": local.hour,
            "volume": 10,
            "bulk": False,
            "today": local.date().isoformat(),
        },
    }


@benchmark("policy-engine", description="bare regopy vs a full decision through the engine")
def engine_overhead() -> list[Metric]:
    """Decisions per second, bare and full, and their ratio."""
    import json

    from regopy import Interpreter

    from policies.engine import ENTRYPOINT, EmbeddedEngine

    count = int(os.environ.get("BENCH_POLICY_DECISIONS", "20000"))
    engine = EmbeddedEngine(cache_size=0)
    now = dt.datetime(2026, 11, 25, 2, 0, tzinfo=dt.UTC)
    questions = _questions(count)
    prepared = [_assemble(a, p, f, now) for a, p, f in questions]
    bundle = engine._bundle
    bare = Interpreter()

    def run_bare() -> float:
        started = time.perf_counter()
        for policy_input in prepared:
            bare.set_input(policy_input)
            json.loads(str(bare.query_bundle_entrypoint(bundle, ENTRYPOINT)))
        return time.perf_counter() - started

    def run_full() -> float:
        started = time.perf_counter()
        for actor, purpose, fields in questions:
            decision = engine.decide(_assemble(actor, purpose, fields, now))
            if decision.error:
                raise RuntimeError("a decision failed in the benchmark")
        return time.perf_counter() - started

    run_bare(), run_full()  # warm-up: the interpreters
    bare_s = min(run_bare() for _ in range(3))
    full_s = min(run_full() for _ in range(3))
    cohort_rate, hit_rate = _cohort(count, now)
    return [
        Metric("bare regopy", count / bare_s, "decisions/s"),
        Metric(
            "full decision (assemble, evaluate, parse)",
            count / full_s,
            "decisions/s",
            limit=DECISIONS_PER_SECOND,
            higher_is_better=True,
        ),
        Metric("full / bare time", full_s / bare_s, "x", limit=OVERHEAD_LIMIT),
        Metric("decisions per run", count, "decisions"),
        Metric(
            "cohort-shaped decisions, result cache on",
            cohort_rate,
            "decisions/s",
            limit=DECISIONS_PER_SECOND,
            higher_is_better=True,
        ),
        Metric("cohort-shaped: result cache hit rate", hit_rate * 100, "%"),
    ]


def _cohort(count: int, now: dt.datetime) -> tuple[float, float]:
    """(decisions/s, cache hit rate) of ``count`` cohort-export questions, cache on."""
    from policies.engine import EmbeddedEngine

    actor, purpose, fields = next(
        (a, p, f) for a, p, f in _questions(200) if a.type == "service" and len(f) >= 4
    )
    rng = random.Random(7)
    states = [
        ({"valid": True, "reason": "valid", "tier": tier, "by_guardian": guardian}, minor, pr)
        for tier in ("basic", "behaviour", "payment")
        for minor, guardian in ((False, False), (True, True), (True, False))
        for pr in (True, False)
    ] + [({"valid": False, "reason": "withdrawn", "tier": None, "by_guardian": False}, False, True)]
    weights = [6 if not minor else 1 for (_c, minor, _p) in states]
    engine = EmbeddedEngine()
    started = time.perf_counter()
    for _ in range(count):
        consent, minor, personalised = rng.choices(states, weights)[0]
        policy_input = _assemble(actor, purpose, fields, now)
        policy_input.update(
            consent=dict(consent),
            subject={"minor": minor},
            personalised_recommendation=personalised,
        )
        if engine.decide(policy_input).error:
            raise RuntimeError("a decision failed in the benchmark")
    elapsed = time.perf_counter() - started
    stats = engine.cache_stats()
    return count / elapsed, stats["hits"] / max(1, stats["hits"] + stats["misses"])
