"""Differential test: the Rego decision equals a small Python reference of the same rules.

For thousands of random inputs (hypothesis), regopy's evaluation of
``governance/access/decision`` must equal :func:`policies.reference.decide`, written
separately from docs/policy.md: a regopy mis-evaluation (or a Rego rule that drifted from
the documented rules) cannot pass silently.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.catalog.loader import DEFAULT_CATALOG_PATH
from policies import reference
from policies.engine import ENTRYPOINT, EmbeddedEngine, PolicySource

CATALOG = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
FIELDS = [
    {k: f[k] for k in ("name", "category", "tier", "classification", "pipl_sensitive", "free_text")}
    for f in CATALOG["fields"]
]
PURPOSES = [
    {"id": p["id"], "legal_basis": p["legal_basis"], "separate_consent": p["separate_consent"]}
    for p in CATALOG["purposes"]
] + [{"id": "data_subject_access", "legal_basis": "legal_obligation", "separate_consent": False}]
ROLES = ["dpo", "marketing", "customer_service", "analyst", "admin"]
TIERS = [None, "basic", "behaviour", "payment"]
CATEGORIES = sorted({f["category"] for f in FIELDS})
DATES = ["2026-01-01", "2026-06-30", "2026-11-25", "2027-03-01"]


@cache
def _engine() -> EmbeddedEngine:
    return EmbeddedEngine(cache_size=0)  # every input evaluated by regopy


def _data() -> dict[str, Any]:
    data: dict[str, Any] = _engine().source.data["governance"]["access"]
    return data


agreements = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {
            "id": st.just("agr_fictional"),
            "purposes": st.lists(st.sampled_from([p["id"] for p in PURPOSES]), unique=True),
            "categories": st.lists(st.sampled_from(CATEGORIES), unique=True),
            "valid_from": st.sampled_from(DATES),
            "valid_until": st.sampled_from(DATES),
            "approved": st.booleans(),
        }
    ),
)

actors = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["operator", "service", "partner", "subject", "anonymous"]),
        "id": st.just("42"),
        "roles": st.lists(st.sampled_from(ROLES), unique=True, max_size=3).map(sorted),
        "purposes": st.lists(st.sampled_from([p["id"] for p in PURPOSES]), unique=True).map(sorted),
        "agreement": agreements,
        "mfa_age_minutes": st.one_of(st.none(), st.integers(0, 120)),
    }
)

inputs = st.fixed_dictionaries(
    {
        "actor": actors,
        "purpose": st.sampled_from(PURPOSES),
        "consent": st.fixed_dictionaries(
            {
                "valid": st.booleans(),
                "reason": st.sampled_from(["valid", "withdrawn", "never_granted", "expired"]),
                "tier": st.sampled_from(TIERS),
                "by_guardian": st.booleans(),
            }
        ),
        "subject": st.fixed_dictionaries(
            {
                "minor": st.booleans(),
                "restricted": st.sampled_from([False, False, False, True, None]),
                "self": st.booleans(),
            }
        ),
        "personalised_recommendation": st.booleans(),
        "fields": st.lists(
            st.sampled_from(FIELDS), min_size=1, max_size=6, unique_by=lambda f: f["name"]
        ),
        "context": st.fixed_dictionaries(
            {
                "hour": st.integers(0, 23),
                "volume": st.one_of(st.integers(0, 5000), st.integers(0, 30_000_000)),
                "bulk": st.booleans(),
                "today": st.sampled_from(DATES),
            }
        ),
    }
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs)
def test_rego_equals_the_python_reference(policy_input: dict[str, Any]) -> None:
    rego = _engine().evaluate(ENTRYPOINT, policy_input)
    python = reference.decide(policy_input, _data())
    assert rego == python


def test_the_reference_and_the_engine_read_the_same_data() -> None:
    assert _data() == PolicySource.load().data["governance"]["access"]
