"""Consent speed: checks against a large ledger, batches, and decisions per second.

Each benchmark builds a throwaway instance with ``BENCH_CONSENT_SUBJECTS`` subjects
(default 1,000,000), each with a state for five consent purposes (random status, tier
and notice; a few minors), loaded in bulk, then measures the service functions the API
calls (in-process, no HTTP):

``consent-check-sqlite`` / ``consent-check-postgres``
    ``consent.ledger.check`` for ``BENCH_CONSENT_CHECKS`` random (subject, purpose) pairs
    (default 10,000): p50 and p99 against the 1 ms target; ``check_many`` for batches of
    10,000 random subjects (``BENCH_CONSENT_BATCHES`` of them, default 5): median and
    worst against the 100 ms target. PostgreSQL runs on a throwaway cluster started with
    ``.ci/pg`` and a 2 GB buffer cache, vacuumed after the load as autovacuum would (the
    benchmark fails, saying so, when no cluster can be started).
``consent-decide``
    ``consent.ledger.record`` + commit for ``BENCH_CONSENT_DECISIONS`` alternating grants
    and withdrawals (default 2,000), each durable with its audit entry and signed receipt:
    decisions per second (SQLite).
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.harness import Metric, benchmark, instance_config

CHECK_P99_MS = 1.0
BATCH_MS = 100.0
BATCH = 10_000
PG_SHARED_BUFFERS = "2GB"
PURPOSES = (
    "marketing_push",
    "personalised_recommendation",
    "analytics",
    "joint_modelling_partner_bank",
    "cross_border_transfer",
)
ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"


def _env_int(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


def _subject(n: int) -> str:
    return f"sub_benchConsent{n:010d}"


def _app(folder: Path, database_url: str | None = None) -> Any:
    from consent.catalog.loader import DEFAULT_CATALOG_PATH, load_catalog_file
    from governance import create_app, migrate
    from governance.db import get_session

    overrides: dict[str, Any] = {"AUDIT_CHECKPOINT_ON_SHUTDOWN": False}
    if database_url:
        overrides["DATABASE_URL"] = database_url
    app = create_app(instance_config(folder, **overrides))
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        session = get_session()
        load_catalog_file(session, DEFAULT_CATALOG_PATH)
        session.commit()
    return app


def _rows(count: int, seed: int) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Subjects and their states, in chunks of 50,000 subjects."""
    rng = random.Random(seed)
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    statuses = ("granted", "granted", "granted", "withdrawn", "refused")
    tiers = ("basic", "behaviour", "payment")
    event = 0
    for start in range(0, count, 50_000):
        subjects, states = [], []
        for n in range(start, min(count, start + 50_000)):
            sid = _subject(n)
            subjects.append((sid, now, 2016 if n % 97 == 0 else 1960 + n % 45))
            for purpose in PURPOSES:
                event += 1
                status = rng.choice(statuses)
                granted = status == "granted"
                states.append(
                    (
                        sid,
                        purpose,
                        status,
                        rng.choice(tiers) if granted else None,
                        "2026-09" if granted else None,
                        dt.date(2026, 9, 1) if granted else None,
                        False,
                        None,
                        now,
                        event,
                    )
                )
        yield subjects, states


def _naive(moment: dt.datetime) -> str:
    """How SQLAlchemy stores a UTC datetime in SQLite."""
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _load(app: Any, count: int) -> float:
    """Bulk-load ``count`` subjects with five states each; returns the seconds it took."""
    from governance.db import get_engine

    engine = get_engine(app)
    started = time.perf_counter()
    with engine.begin() as conn:
        raw: Any = conn.connection.dbapi_connection
        cursor = raw.cursor()
        postgres = engine.dialect.name == "postgresql"
        for subjects, states in _rows(count, 3):
            if postgres:
                with cursor.copy("COPY subjects (id, created_at, birth_year) FROM STDIN") as copy:
                    for row in subjects:
                        copy.write_row(row)
                with cursor.copy(
                    "COPY consent_states (subject_id, purpose, status, tier, notice_version, "
                    "notice_date, by_guardian, valid_until, changed_at, last_event_id) FROM STDIN"
                ) as copy:
                    for row in states:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    "INSERT INTO subjects (id, created_at, birth_year) VALUES (?, ?, ?)",
                    [(s, _naive(c), b) for s, c, b in subjects],
                )
                cursor.executemany(
                    "INSERT INTO consent_states (subject_id, purpose, status, tier, "
                    "notice_version, notice_date, by_guardian, valid_until, changed_at, "
                    "last_event_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            *r[:5],
                            None if r[5] is None else r[5].isoformat(),
                            *r[6:8],
                            _naive(r[8]),
                            r[9],
                        )
                        for r in states
                    ],
                )
        cursor.close()
    if engine.dialect.name == "postgresql":
        # What autovacuum does after a bulk load, done at once: statistics for the planner,
        # and the visibility map that lets a check read the key alone (index-only scans).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) subjects")
            conn.exec_driver_sql("VACUUM (ANALYZE) consent_states")
    return time.perf_counter() - started


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _measure_checks(app: Any, count: int, database: str) -> list[Metric]:
    from consent import ledger
    from consent.tiers import Tier
    from governance.db import get_session

    checks = _env_int("BENCH_CONSENT_CHECKS", 10_000)
    batches = _env_int("BENCH_CONSENT_BATCHES", 5)
    rng = random.Random(9)
    singles, batch_ms = [], []
    valid = 0
    with app.app_context():
        session = get_session()
        for _ in range(200):  # warm-up
            ledger.check(session, _subject(rng.randrange(count)), "marketing_push", Tier.BASIC)
        for _ in range(checks):
            subject = _subject(rng.randrange(count))
            purpose = rng.choice(PURPOSES)
            started = time.perf_counter()
            answer = ledger.check(session, subject, purpose, Tier.BASIC)
            singles.append((time.perf_counter() - started) * 1000)
            valid += answer.valid
            session.rollback()  # each check its own read, as each request is
        # One batch, unmeasured, as the singles have theirs: the process's first touch of
        # the pages (SQLite maps the file) is not what a running service sees.
        ledger.check_many(
            session,
            [_subject(rng.randrange(count)) for _ in range(BATCH)],
            "analytics",
            Tier.BEHAVIOUR,
        )
        session.rollback()
        for _ in range(batches):
            subjects = [_subject(rng.randrange(count)) for _ in range(BATCH)]
            started = time.perf_counter()
            answers = ledger.check_many(session, subjects, "analytics", Tier.BEHAVIOUR)
            batch_ms.append((time.perf_counter() - started) * 1000)
            session.rollback()
            if len(answers) != BATCH:
                raise RuntimeError("a batch lost answers")
    if not 0 < valid < checks:
        raise RuntimeError(f"{valid} of {checks} checks were valid: the data is not mixed")
    return [
        Metric(f"check p50 ({database})", statistics.median(singles), "ms"),
        Metric(f"check p99 ({database})", _percentile(singles, 0.99), "ms", limit=CHECK_P99_MS),
        Metric(
            f"batch of 10,000, median ({database})",
            statistics.median(batch_ms),
            "ms",
            limit=BATCH_MS,
        ),
        Metric(f"batch of 10,000, worst ({database})", max(batch_ms), "ms", limit=BATCH_MS),
        Metric("subjects", count, "subjects"),
        Metric("states", count * len(PURPOSES), "rows"),
        Metric("checks", checks, "checks"),
    ]


@benchmark("consent-check-sqlite", description="consent checks, 1,000,000 subjects x 5 (SQLite)")
def check_sqlite() -> list[Metric]:
    """Single and batch checks on SQLite."""
    count = _env_int("BENCH_CONSENT_SUBJECTS", 1_000_000)
    with tempfile.TemporaryDirectory(prefix="bench-consent-") as tmp:
        app = _app(Path(tmp))
        seconds = _load(app, count)
        metrics = _measure_checks(app, count, "SQLite")
        from governance.db import get_engine

        get_engine(app).dispose()
    return [*metrics, Metric("bulk load (untimed above)", seconds, "s")]


@contextmanager
def _postgres(folder: Path) -> Iterator[str | None]:
    """A throwaway PostgreSQL cluster (``.ci/pg``), or None without PostgreSQL's binaries."""
    cluster = folder / "pg"
    folder.chmod(0o755)  # the cluster's owner (postgres, when run as root) must reach it
    script = [BASH, str(ROOT / ".ci" / "pg")]
    try:
        url = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [*script, "start", str(cluster)],
            check=True,
            capture_output=True,
            text=True,
            # A buffer cache that holds the million subjects' keys, as a deployment of this
            # size would configure it (PostgreSQL's default, 128 MB, is for small machines).
            env={**os.environ, "PG_SHARED_BUFFERS": PG_SHARED_BUFFERS},
        ).stdout.strip()
    except subprocess.CalledProcessError:
        yield None
        return
    try:
        yield url
    finally:
        subprocess.run([*script, "stop", str(cluster)], check=False)  # noqa: S603


@benchmark(
    "consent-check-postgres", description="consent checks, 1,000,000 subjects x 5 (PostgreSQL)"
)
def check_postgres() -> list[Metric]:
    """Single and batch checks on PostgreSQL."""
    count = _env_int("BENCH_CONSENT_SUBJECTS", 1_000_000)
    with (
        tempfile.TemporaryDirectory(prefix="bench-consent-pg-") as tmp,
        _postgres(Path(tmp)) as url,
    ):
        if url is None:
            raise RuntimeError(
                "no PostgreSQL cluster could be started (.ci/pg): install PostgreSQL "
                "(Debian: apt-get install postgresql)"
            )
        app = _app(Path(tmp), url)
        seconds = _load(app, count)
        metrics = _measure_checks(app, count, "PostgreSQL")
        from governance.db import get_engine

        get_engine(app).dispose()
    return [*metrics, Metric("bulk load (untimed above)", seconds, "s")]


@benchmark("consent-decide", description="grants and withdrawals per second, each durable")
def decide() -> list[Metric]:
    """Decisions per second through ``ledger.record`` with receipts, audited, committed."""
    from consent import ledger
    from consent.views import receipt_issuer
    from governance.db import get_engine, get_session

    count = _env_int("BENCH_CONSENT_DECISIONS", 2_000)
    subjects = 1_000
    with tempfile.TemporaryDirectory(prefix="bench-consent-") as tmp:
        app = _app(Path(tmp))
        _load(app, subjects)
        with app.app_context():
            session = get_session()
            issue = receipt_issuer(session)  # as the API signs receipts
            started = time.perf_counter()
            for i in range(count):
                kind = "grant" if i % 2 == 0 else "withdraw"
                subject = _subject((i // 2 * 7919) % subjects)
                if (i // 2 * 7919) % subjects % 97 == 0:  # a minor: a guardian decides
                    subject = _subject((i // 2 * 7919 + 1) % subjects)
                extra: dict[str, Any] = (
                    {"tier": "behaviour", "notice_version": "2026-09", "evidence_sha256": "0" * 64}
                    if kind == "grant"
                    else {}
                )
                ledger.record(
                    session,
                    ledger.Change(
                        subject=subject,
                        purposes=("analytics",),
                        kind=kind,
                        channel="api",
                        acted_by="subject",
                        actor_id="svc_bench",
                        **extra,
                    ),
                    receipts=issue,
                )
                session.commit()
            seconds = time.perf_counter() - started
            events = ledger.count_events(session)
            session.commit()
        get_engine(app).dispose()
    return [
        Metric("decisions per second", count / seconds, "ops/s"),
        Metric("decisions", count, "calls"),
        Metric("events written", events, "events"),
    ]
