"""Audit trail speed: appends, batched appends, verification, proofs, concurrent writers.

Every benchmark runs on a fresh SQLite instance in a temporary folder (database and keys,
migrated to the current schema), with the app's own engine settings (WAL,
``synchronous=NORMAL``, pooled connections). "Durable before returning" means the
entry's transaction has committed when the call returns, as a request would see it.

``audit-append``
    ``audit.log.append(session, ...)`` then ``session.commit()`` per entry, against a
    *plain INSERT* of the very same rows into ``plain_entries``, a copy of
    ``audit_entries`` made from its own DDL (same columns, constraints and three indexes;
    no append-only triggers) in the same database. The plain path is the cheapest honest
    one through the same session: ``session.connection().exec_driver_sql(INSERT, row)``
    (a prepared driver statement, no SQL compilation) then ``session.commit()``. Its rows
    are the ones the previous append round wrote, read back untimed, so both sides write
    identical bytes. The two alternate in rounds (``BENCH_AUDIT_ROUNDS``, default 3, of
    ``BENCH_AUDIT_APPENDS`` entries each, default 5,000) after an untimed warm-up round;
    the rates are medians and the ratio is the median of each round's plain/append
    ratio. Entries are realistic (service actor, ``sub_`` subject, purpose, reasons,
    policy hash, request id, small details) and pass the app's PII check; the core number
    passes ``signer=None``, and one more round with the app's signer (checkpoint interval
    from settings) is reported for information.
``audit-append-many``
    ``append_many`` with ``BENCH_AUDIT_BATCH_SIZE`` entries per transaction (default
    1,000), ``BENCH_AUDIT_BATCH_ENTRIES`` in all (default 100,000).
``audit-verify``
    ``audit.verify.verify_database``, pinned to one CPU, over a log of
    ``BENCH_AUDIT_LOG_ENTRIES`` entries
    (default 1,000,000) with a signed checkpoint every 100,000 entries (so signatures,
    roots and consistency between checkpoints are checked too). The log is built once per
    run with ``append_many`` in large batches (the build time is reported) and kept in a
    temporary folder until the process exits.
``audit-proof``
    ``audit.log.inclusion_proof`` for random entries of that log
    (``BENCH_AUDIT_PROOFS`` samples, default 1,000) and ``audit.merkle.verify_inclusion``
    of each proof against the root: median and 95th percentile.
``audit-append-concurrent``
    Two ``spawn``-ed processes append ``BENCH_AUDIT_WRITER_APPENDS`` entries each
    (default 2,000), one commit per entry, into the same SQLite file, started together.
    Afterwards the log must hold exactly entries 0..2N-1, the writers' sequence numbers
    must partition that range, and ``verify_database`` must pass; otherwise the
    benchmark fails.
"""

from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import random
import statistics
import string
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from bench.harness import Metric, benchmark, instance_config

APPEND_RATE_LIMIT = 5_000.0  # entries/s, one commit per entry
PLAIN_RATIO_LIMIT = 2.0  # plain INSERT rate / append rate
VERIFY_RATE_LIMIT = 200_000.0  # entries/s
PROOF_MS_LIMIT = 1.0
PROOF_VERIFY_MS_LIMIT = 0.1
CHECKPOINT_EVERY = 100_000  # entries between checkpoints in the verification log
BUILD_BATCH = 10_000  # entries per transaction when building that log
WRITERS = 2


def _env_int(name: str, default: int) -> int:
    value = int(os.environ.get(name, default))
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


# -- instances and entries -----------------------------------------------------------------


def _config(folder: Path) -> dict[str, Any]:
    return instance_config(folder, AUDIT_CHECKPOINT_ON_SHUTDOWN=False)


def _fresh_app(folder: Path) -> Any:
    """A migrated instance in ``folder`` (its database starts empty)."""
    from governance import create_app, migrate

    app = create_app(_config(folder))
    migrate.upgrade(app.config["DATABASE_URL"])
    return app


_ALPHABET = string.ascii_letters + string.digits + "_-"
_ACTIONS = ("profile.read", "profile.read", "profile.read", "consent.check", "cohort.export")
_PURPOSES = ("marketing_push", "personalised_recommendation", "customer_service", "analytics")


def _subject(rng: random.Random) -> str:
    return "sub_" + "".join(rng.choices(_ALPHABET, k=22))


def _entry(rng: random.Random, i: int) -> dict[str, Any]:
    """Keyword arguments of a realistic guarded-read entry (fictional ids, no PII)."""
    return {
        "action": _ACTIONS[i % len(_ACTIONS)],
        "actor_type": "service",
        "actor_id": f"svc_marketing_{i % 7}",
        "decision": "allow",
        "subject": _subject(rng),
        "purpose": _PURPOSES[i % len(_PURPOSES)],
        "reasons": ("consent.granted", "policy.allow"),
        "policy_hash": "3f" * 32,
        "request_id": f"{rng.getrandbits(128):032x}",  # as the app makes them (uuid4 hex)
        "details": {"fields": ["mobile", "email"], "n": 2},
    }


def _entries(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [_entry(rng, i) for i in range(count)]


def _drafts(count: int, seed: int) -> list[Any]:
    from audit.log import EntryDraft

    return [EntryDraft(**e) for e in _entries(count, seed)]


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


# -- 1. one append, one commit -------------------------------------------------------------


def _copy_entries_table(session: Any, name: str) -> None:
    """Create ``name`` from the DDL of ``audit_entries`` and its indexes (no triggers)."""
    conn = session.connection()
    rows = conn.exec_driver_sql(
        "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'audit_entries' "
        "AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type = 'index'"
    ).all()
    kinds = sorted(kind for kind, _ in rows)
    if kinds != ["index", "index", "index", "table"]:
        raise RuntimeError(f"audit_entries has an unexpected shape: {kinds}")
    for _, sql in rows:
        conn.exec_driver_sql(sql.replace("audit_entries", name))
    session.commit()


def _timed_appends(session: Any, entries: Sequence[dict[str, Any]], signer: Any) -> float:
    from audit.log import append

    started = time.perf_counter()
    for entry in entries:
        append(session, **entry, signer=signer)
        session.commit()
    return time.perf_counter() - started


def _timed_plain(session: Any, sql: str, rows: Sequence[tuple[Any, ...]]) -> float:
    started = time.perf_counter()
    for row in rows:
        session.connection().exec_driver_sql(sql, row)
        session.commit()
    return time.perf_counter() - started


@benchmark("audit-append", description="audit append + commit per entry vs a plain INSERT")
def append_each() -> list[Metric]:
    """Entries/s for append + commit, the same for a plain INSERT, and their ratio."""
    from audit import get_signer
    from audit.log import ENTRIES, _insert_sql
    from governance.db import get_session

    count = _env_int("BENCH_AUDIT_APPENDS", 5_000)
    rounds = _env_int("BENCH_AUDIT_ROUNDS", 3)
    columns = [c.name for c in ENTRIES.columns]
    plain_sql = _insert_sql("qmark").replace("audit_entries", "plain_entries")
    read_back = (
        f"SELECT {', '.join(columns)} FROM audit_entries "  # noqa: S608 - constant columns
        "WHERE seq >= ? AND seq < ? ORDER BY seq"
    )
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        app = _fresh_app(Path(tmp))
        with app.app_context():
            session = get_session()
            _copy_entries_table(session, "plain_entries")
            # Warm-up: connections, statement caches, the log's cached head; its rows are
            # the first plain round's.
            _timed_appends(session, _entries(count, 0), None)
            append_rates, plain_rates, ratios = [], [], []
            for r in range(1, rounds + 1):
                first = (r - 1) * count
                rows = [
                    tuple(row)
                    for row in session.connection().exec_driver_sql(
                        read_back, (first, first + count)
                    )
                ]
                session.commit()
                entries = _entries(count, r)
                if r % 2:
                    a = _timed_appends(session, entries, None)
                    p = _timed_plain(session, plain_sql, rows)
                else:
                    p = _timed_plain(session, plain_sql, rows)
                    a = _timed_appends(session, entries, None)
                append_rates.append(_rate(count, a))
                plain_rates.append(_rate(len(rows), p))
                ratios.append(plain_rates[-1] / append_rates[-1])
            signed = _timed_appends(session, _entries(count, rounds + 1), get_signer(app))
            checkpoints = session.connection().exec_driver_sql(
                "SELECT count(*) FROM audit_checkpoints"
            )
            n_checkpoints = int(checkpoints.scalar_one())
            session.commit()
        interval = app.config["AUDIT_CHECKPOINT_INTERVAL_SECONDS"]
    return [
        Metric(
            "append rate (median)",
            statistics.median(append_rates),
            "entries/s",
            limit=APPEND_RATE_LIMIT,
            higher_is_better=True,
        ),
        Metric("plain INSERT rate (median)", statistics.median(plain_rates), "entries/s"),
        Metric("plain / append (median)", statistics.median(ratios), "x", limit=PLAIN_RATIO_LIMIT),
        Metric("append rate, slowest round", min(append_rates), "entries/s"),
        Metric("entries per round", count, "entries"),
        Metric("rounds", rounds, "rounds"),
        Metric(f"append rate, signed (interval {interval} s)", _rate(count, signed), "entries/s"),
        Metric("checkpoints in the signed round", n_checkpoints, "checkpoints"),
    ]


# -- 2. batched appends ---------------------------------------------------------------------


@benchmark("audit-append-many", description="audit append_many, one transaction per batch")
def append_batches() -> list[Metric]:
    """Entries/s for ``append_many`` with one commit per batch."""
    from audit.log import append_many
    from governance.db import get_session

    total = _env_int("BENCH_AUDIT_BATCH_ENTRIES", 100_000)
    size = _env_int("BENCH_AUDIT_BATCH_SIZE", 1_000)
    drafts = _drafts(total, 7)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        app = _fresh_app(Path(tmp))
        with app.app_context():
            session = get_session()
            started = time.perf_counter()
            for i in range(0, total, size):
                append_many(session, drafts[i : i + size])
                session.commit()
            seconds = time.perf_counter() - started
    return [
        Metric("rate", _rate(total, seconds), "entries/s"),
        Metric("entries", total, "entries"),
        Metric("entries per transaction", size, "entries"),
        Metric("seconds", seconds, "s"),
    ]


# -- 3. and 4. a large log: verification and proofs ----------------------------------------


@dataclass
class _BigLog:
    """A log built once per run (per size) for the verification and proof benchmarks."""

    app: Any
    size: int
    checkpoints: int
    build_seconds: float
    folder: tempfile.TemporaryDirectory[str]


_BIG_LOGS: dict[int, _BigLog] = {}


def _cleanup_big_logs() -> None:
    for log in _BIG_LOGS.values():
        from governance.db import get_engine

        get_engine(log.app).dispose()
        log.folder.cleanup()
    _BIG_LOGS.clear()


atexit.register(_cleanup_big_logs)


def _big_log(size: int) -> _BigLog:
    """The log of ``size`` entries, built on first use (kept until the process exits)."""
    if size in _BIG_LOGS:
        return _BIG_LOGS[size]
    from audit import get_signer
    from audit.log import EntryDraft, append_many, create_checkpoint
    from governance.db import get_session

    folder = tempfile.TemporaryDirectory(prefix="bench-audit-log-")
    app = _fresh_app(Path(folder.name))
    signer = get_signer(app)
    rng = random.Random(11)
    checkpoints = 0
    started = time.perf_counter()
    with app.app_context():
        session = get_session()
        done = 0
        while done < size:
            step = min(BUILD_BATCH, size - done, CHECKPOINT_EVERY - done % CHECKPOINT_EVERY)
            append_many(session, [EntryDraft(**_entry(rng, done + i)) for i in range(step)])
            done += step
            if done % CHECKPOINT_EVERY == 0 or done == size:
                create_checkpoint(session, signer)
                checkpoints += 1
            session.commit()
    log = _BigLog(app, size, checkpoints, time.perf_counter() - started, folder)
    _BIG_LOGS[size] = log
    return log


@benchmark("audit-verify", description="verify_database over a 1,000,000-entry log")
def verify_log() -> list[Metric]:
    """Entries/s and seconds for a full verification (and the log's build time)."""
    from audit import log_origin, public_keys
    from audit.verify import verify_database
    from governance.db import get_engine

    size = _env_int("BENCH_AUDIT_LOG_ENTRIES", 1_000_000)
    log = _big_log(size)
    engine = get_engine(log.app)
    # "On one core": the process may use only the CPU it is on while it verifies.
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        report = verify_database(engine, public_keys(log.app), origin=log_origin(log.app))
    finally:
        os.sched_setaffinity(0, allowed)
    if not report.ok or report.entries_checked != size:
        raise RuntimeError(f"verification failed: {report.to_json()}")
    if report.checkpoints_checked != log.checkpoints:
        raise RuntimeError(
            f"{report.checkpoints_checked} of {log.checkpoints} checkpoints were checked"
        )
    return [
        Metric(
            "verify rate",
            _rate(size, report.seconds),
            "entries/s",
            limit=VERIFY_RATE_LIMIT,
            higher_is_better=True,
        ),
        Metric(
            f"verify seconds ({size:,} entries)",
            report.seconds,
            "s",
            limit=size / VERIFY_RATE_LIMIT,
        ),
        Metric("checkpoints checked", report.checkpoints_checked, "checkpoints"),
        Metric("build seconds (append_many, untimed above)", log.build_seconds, "s"),
        Metric("build rate", _rate(size, log.build_seconds), "entries/s"),
        Metric(
            "database size",
            Path(log.folder.name, "bench.sqlite3").stat().st_size / 1e6,
            "MB",
        ),
    ]


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _timed_ms(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = func()
    return (time.perf_counter() - started) * 1000, out


@benchmark("audit-proof", description="inclusion proof in a 1,000,000-entry log: make, verify")
def inclusion_proofs() -> list[Metric]:
    """Milliseconds to produce an inclusion proof from the database and to verify it."""
    from audit.log import ENTRIES, inclusion_proof, root_at
    from audit.merkle import verify_inclusion
    from governance.db import get_session

    size = _env_int("BENCH_AUDIT_LOG_ENTRIES", 1_000_000)
    samples = _env_int("BENCH_AUDIT_PROOFS", 1_000)
    log = _big_log(size)
    rng = random.Random(5)
    indexes = [rng.randrange(size) for _ in range(samples)]
    make_ms, check_ms = [], []
    with log.app.app_context():
        session = get_session()
        root = root_at(session, size)
        t = ENTRIES
        leaves = {
            seq: bytes(leaf)
            for seq, leaf in session.execute(
                t.select().with_only_columns(t.c.seq, t.c.leaf_hash).where(t.c.seq.in_(indexes))
            )
        }
        for i in indexes:
            ms, proof = _timed_ms(functools.partial(inclusion_proof, session, i, size))
            make_ms.append(ms)
            ms, ok = _timed_ms(functools.partial(verify_inclusion, i, size, leaves[i], proof, root))
            check_ms.append(ms)
            if not ok:
                raise RuntimeError(f"the inclusion proof of entry {i} does not verify")
        session.commit()
    return [
        Metric("produce, median", statistics.median(make_ms), "ms", limit=PROOF_MS_LIMIT),
        Metric("produce, p95", _percentile(make_ms, 0.95), "ms", limit=PROOF_MS_LIMIT),
        Metric("verify, median", statistics.median(check_ms), "ms", limit=PROOF_VERIFY_MS_LIMIT),
        Metric("verify, p95", _percentile(check_ms, 0.95), "ms", limit=PROOF_VERIFY_MS_LIMIT),
        Metric("log size", size, "entries"),
        Metric("samples", samples, "proofs"),
    ]


# -- 5. two writer processes ---------------------------------------------------------------


def _writer(
    folder: str, count: int, seed: int, barrier: Barrier, results: Queue[Any]
) -> None:  # pragma: no cover - runs in a spawned process
    """Append ``count`` entries, one commit each, once every writer is ready."""
    try:
        from audit.log import append
        from governance import create_app
        from governance.db import get_session

        app = create_app(_config(Path(folder)))
        entries = _entries(count, seed)
        seqs = []
        with app.app_context():
            session = get_session()
            barrier.wait(timeout=120)
            started = time.monotonic()
            for entry in entries:
                seqs.append(append(session, **entry).seq)
                session.commit()
            finished = time.monotonic()
        results.put((seed, started, finished, seqs, None))
    except Exception as exc:  # handed to the parent, which fails the benchmark
        results.put((seed, 0.0, 0.0, [], f"{type(exc).__name__}: {exc}"))


@benchmark(
    "audit-append-concurrent",
    description="two writer processes, append + commit per entry, one SQLite file",
)
def concurrent_writers() -> list[Metric]:
    """Entries/s of two concurrent writers, and proof that the log stayed linear."""
    from audit import get_signer, log_origin, public_keys
    from audit.log import create_checkpoint
    from audit.verify import verify_database
    from governance.db import get_engine, get_session

    count = _env_int("BENCH_AUDIT_WRITER_APPENDS", 2_000)
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        app = _fresh_app(Path(tmp))
        barrier = ctx.Barrier(WRITERS)
        results: Queue[Any] = ctx.Queue()
        procs = [
            ctx.Process(target=_writer, args=(tmp, count, 100 + w, barrier, results))
            for w in range(WRITERS)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=600) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        errors = [o[4] for o in outcomes if o[4] is not None]
        if errors:
            raise RuntimeError(f"a writer failed: {errors}")
        seconds = max(o[2] for o in outcomes) - min(o[1] for o in outcomes)
        total = WRITERS * count
        seqs = sorted(s for o in outcomes for s in o[3])
        if seqs != list(range(total)):
            raise RuntimeError("the writers' sequence numbers do not partition 0..2N-1")
        with app.app_context():
            session = get_session()
            n, low, high = (
                session.connection()
                .exec_driver_sql("SELECT count(*), min(seq), max(seq) FROM audit_entries")
                .one()
            )
            create_checkpoint(session, get_signer(app))
            session.commit()
        if (n, low, high) != (total, 0, total - 1):
            raise RuntimeError(f"the log holds {n} entries, seq {low}..{high}; expected {total}")
        report = verify_database(get_engine(app), public_keys(app), origin=log_origin(app))
        get_engine(app).dispose()
        if not report.ok or report.entries_checked != total:
            raise RuntimeError(f"the log does not verify: {report.to_json()}")
        interleaved = sum(
            1 for a, b in zip(outcomes[0][3], outcomes[0][3][1:], strict=False) if b != a + 1
        )
    return [
        Metric("rate, both writers", _rate(total, seconds), "entries/s"),
        Metric("linear (2N entries, seq 0..2N-1, verified)", 1, "", limit=1, higher_is_better=True),
        Metric("entries", total, "entries"),
        Metric("writer switches seen by writer 1", interleaved, "switches"),
        Metric("seconds", seconds, "s"),
    ]
