"""Fictional protected profiles for the guarded-read and cohort-export benchmarks.

Not a benchmark module (its name does not start with ``bench_``): helpers that build a
throwaway instance, fill it with fictional customers as fast as the store allows, and give
them consent.

- :func:`fresh_app`: a migrated SQLite instance in a folder, default catalog loaded, no
  policy reloading (as in production; the HTTP server is started the same way).
- :func:`build_profiles`: ``count`` subjects ``sub_benchProfile0000000000`` ... with the
  values of ``fields`` (see :func:`fictional_values`), validated against the catalog and
  encrypted by :class:`~governance.profiles.store.SubjectBatch` (a data key per subject,
  wrapped into the key vault; blind indexes for identifiers) in worker processes, written
  with :func:`~governance.profiles.store.insert_rows` by this one, a batch per commit: the
  demo seed's pipeline (``governance.demo.seed``), with a chosen field set.
- :func:`grant_with_ledger`: real grants through :func:`consent.ledger.record` (event,
  state, audit entry, outbox), for a few thousand subjects.
- :func:`grant_in_bulk`: the consent states those grants would produce, inserted in bulk
  (one row per subject, no events: for a million subjects), as ``bench_consent`` does.

Every value is invented: mobile numbers in the unassigned ``100`` block
(:func:`governance.demo.fake.fake_mobile`), e-mail addresses at ``example.com``, names
from the demo's small lists.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import random
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from bench.harness import instance_config

#: Subject ids: ``sub_`` and 22 characters, as the API's routes require.
SUBJECT_PREFIX = "sub_benchProfile"
#: Ten fields a service scoped to a consent purpose may read at the behaviour tier or above:
#: classifications core and internal (a service is granted public, internal and core), no
#: PIPL-sensitive field, no free text.
READ_FIELDS = (
    "mobile",
    "email",
    "wecom_unionid",
    "nickname",
    "gender",
    "birth_year",
    "city",
    "member_level",
    "browse_history",
    "coupon_use",
)
#: What each subject of the guarded-read benchmarks stores: the ten above and four more.
STORED_FIELDS = (
    *READ_FIELDS,
    "store_visits",
    "group_interactions",
    "order_total_12m",
    "payment_method",
)
#: Five fields a campaign export asks for.
EXPORT_FIELDS = ("mobile", "nickname", "city", "member_level", "coupon_use")
#: The purpose of both benchmarks (consent at the basic tier or above).
PURPOSE = "marketing_push"
#: The default catalog's newest privacy notice, which every grant cites.
NOTICE_VERSION = "2026-09"
NOTICE_DATE = dt.date(2026, 9, 1)
#: Tiers granted, alternately: both cover every field above.
TIERS = ("behaviour", "payment")
BATCH = 5000
UNIONID_LETTERS = "abcdefghijkLMNOPQ0123456789-_"


def subject_id(n: int) -> str:
    """The id of fictional subject ``n`` (ids sort in ``n`` order)."""
    return f"{SUBJECT_PREFIX}{n:010d}"


def fresh_app(folder: Path, **overrides: Any) -> Any:
    """A migrated instance in ``folder`` (its own SQLite file, key vault and keys)."""
    from consent.catalog.loader import DEFAULT_CATALOG_PATH, load_catalog_file
    from governance import create_app, migrate
    from governance.db import get_session

    settings = {"AUDIT_CHECKPOINT_ON_SHUTDOWN": False, "POLICY_RELOAD": False, **overrides}
    app = create_app(instance_config(folder, **settings))
    migrate.upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        session = get_session()
        load_catalog_file(session, DEFAULT_CATALOG_PATH)
        session.commit()
    return app


def fictional_values(n: int, fields: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """Invented values of ``fields`` for subject ``n`` (an adult), drawn from ``rng``."""
    from governance.demo import fake

    surname_py, _ = rng.choice(fake.SURNAMES)
    given_py, given_zh = rng.choice(fake.GIVEN_NAMES)
    makers: dict[str, Callable[[], Any]] = {
        "mobile": lambda: fake.fake_mobile(n),
        "email": lambda: f"{given_py}.{surname_py}.{n}@example.com",
        "wecom_unionid": lambda: "oDemo" + "".join(rng.choices(UNIONID_LETTERS, k=23)),
        "nickname": lambda: rng.choice(fake.NICKNAME_WORDS) + given_zh[-1],
        "gender": lambda: rng.choice(fake.GENDERS),
        "birth_year": lambda: rng.randint(1956, 2006),
        "city": lambda: rng.choice(fake.CITIES)[0],
        "member_level": lambda: rng.choice(fake.MEMBER_LEVELS),
        "browse_history": lambda: rng.sample(fake.PRODUCTS, rng.randint(1, 6)),
        "coupon_use": lambda: rng.randrange(12),
        "store_visits": lambda: rng.randrange(20),
        "group_interactions": lambda: rng.randrange(60),
        "order_total_12m": lambda: round(rng.uniform(10, 20_000), 2),
        "payment_method": lambda: rng.choice(fake.PAYMENT_METHODS),
    }
    return {name: makers[name]() for name in fields}


# -- building subjects, in worker processes ----------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(kek: Path, blind_index: Path, specs: dict[str, Any]) -> None:
    # This process too builds small sets: keys of an earlier instance must not linger.
    _WORKER.pop("crypto", None)
    _WORKER.update(kek=kek, blind_index=blind_index, specs=specs)


def _build(start: int, size: int, fields: tuple[str, ...]) -> Any:
    """Validated, encrypted rows of subjects ``start .. start + size`` (a BatchRows)."""
    from governance.profiles.crypto import ProfileCrypto
    from governance.profiles.store import SubjectBatch

    if "crypto" not in _WORKER:
        _WORKER["crypto"] = ProfileCrypto.from_files(_WORKER["kek"], _WORKER["blind_index"])
    batch = SubjectBatch(_WORKER["specs"], _WORKER["crypto"])
    rng = random.Random(start)  # reproducible fictional data, not secrets
    for n in range(start, start + size):
        batch.add(subject_id(n), fictional_values(n, fields, rng))  # validated by the catalog
    return batch.take()


def _batches(
    chunks: list[tuple[int, int]], fields: tuple[str, ...], init: tuple[Any, ...], workers: int
) -> Iterator[Any]:
    if workers < 1 or len(chunks) < 2:
        _init_worker(*init)
        for start, size in chunks:
            yield _build(start, size, fields)
        return
    ctx = multiprocessing.get_context("spawn")  # the parent holds connections and threads
    with ctx.Pool(workers, initializer=_init_worker, initargs=init) as pool:
        todo = iter(chunks)
        pending: deque[AsyncResult[Any]] = deque()
        for start, size in todo:
            pending.append(pool.apply_async(_build, (start, size, fields)))
            if len(pending) > workers:
                break
        while pending:
            rows = pending.popleft().get()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.apply_async(_build, (*nxt, fields)))
            yield rows


def build_profiles(
    app: Any,
    count: int,
    fields: Sequence[str],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Create subjects ``0 .. count - 1`` with ``fields``, a batch per commit."""
    from sqlalchemy.orm import Session

    from governance.db import get_engine
    from governance.demo.seed import SQLITE_CACHE_KIB, default_workers
    from governance.profiles.store import insert_rows, load_field_specs
    from governance.profiles.vault import get_vault_engine

    engine, vault = get_engine(app), get_vault_engine(app)
    paths = app.config["KEY_PATHS"]
    chunks = [(start, min(BATCH, count - start)) for start in range(0, count, BATCH)]
    workers = default_workers() if workers is None else workers
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            conn.commit()
        with Session(bind=conn, autoflush=False, expire_on_commit=False) as db:
            specs = load_field_specs(db)
            db.commit()
            init = (paths.kek, paths.blind_index, specs)
            for rows in _batches(chunks, tuple(fields), init, workers):
                insert_rows(db, rows, vault=vault)
                db.commit()
                if progress is not None:
                    progress(len(rows))


# -- consent -----------------------------------------------------------------------------------


def grant_with_ledger(app: Any, count: int, purpose: str = PURPOSE) -> None:
    """Subjects ``0 .. count - 1`` grant ``purpose`` through the ledger (tiers alternate)."""
    import hashlib

    from consent import ledger
    from governance.db import get_session

    evidence = hashlib.sha256(b"the notice text and the choices shown (benchmark)").hexdigest()
    with app.app_context():
        session = get_session()
        for n in range(count):
            sid = subject_id(n)
            ledger.record(
                session,
                ledger.Change(
                    subject=sid,
                    purposes=(purpose,),
                    kind="grant",
                    channel="portal",
                    acted_by="subject",
                    actor_id=sid,
                    tier=TIERS[n % len(TIERS)],
                    notice_version=NOTICE_VERSION,
                    evidence_sha256=evidence,
                ),
            )
            if n % 200 == 199:
                session.commit()
        session.commit()


def grant_in_bulk(app: Any, count: int, purpose: str = PURPOSE) -> None:
    """The states :func:`grant_with_ledger` would leave, for ``count`` subjects, in bulk.

    What ``consent.ledger.apply`` makes of a subject's own grant: status ``granted``, the
    tier, the current notice's version and effective date, not by a guardian, no expiry,
    changed a day ago. No event rows (``last_event_id`` numbers them as if there were):
    the export reads the projection only.
    """
    from sqlalchemy import column, insert, table

    from consent.models import STATES
    from governance.db import get_engine

    engine = get_engine(app)
    changed = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    untyped = table(STATES.name, *(column(c.name) for c in STATES.columns))
    processors = {
        name: STATES.c[name].type.dialect_impl(engine.dialect).bind_processor(engine.dialect)
        for name in ("notice_date", "changed_at", "by_guardian")
    }

    def bound(name: str, value: Any) -> Any:
        process = processors[name]
        return process(value) if process else value

    fixed = {
        "purpose": purpose,
        "status": "granted",
        "notice_version": NOTICE_VERSION,
        "notice_date": bound("notice_date", NOTICE_DATE),
        "by_guardian": bound("by_guardian", False),
        "valid_until": None,
        "changed_at": bound("changed_at", changed),
    }
    with engine.begin() as conn:
        for start in range(0, count, 50_000):
            conn.execute(
                insert(untyped),
                [
                    {
                        **fixed,
                        "subject_id": subject_id(n),
                        "tier": TIERS[n % len(TIERS)],
                        "last_event_id": n + 1,
                    }
                    for n in range(start, min(count, start + 50_000))
                ],
            )


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
