"""Bulk seeding of fictional subjects: validated, encrypted, Core bulk inserts per batch.

Each batch of subjects is generated (:mod:`governance.demo.fake`), checked against the
field catalog, encrypted with a data key per subject, and written with one executemany
insert per table; each batch is committed on its own, so an interrupted seed keeps what
it wrote and a rerun adds more.

With more than one batch, worker processes generate and encrypt the next batches while
this process writes the current one (the database writer is the bottleneck; a thread
would not help because both halves need the GIL). At most ``workers + 1`` batches are in
flight, so memory stays flat for any number of subjects. The customer at global index
``i`` depends only on the seed and ``i``, so the result is the same with any number of
workers and any batch size.
"""

from __future__ import annotations

import multiprocessing
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.pool import AsyncResult
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from governance.demo.fake import CustomerFactory
from governance.errors import ApiError
from governance.keys import KeyPaths
from governance.profiles.crypto import ProfileCrypto
from governance.profiles.models import Subject
from governance.profiles.store import (
    BatchRows,
    FieldSpec,
    SubjectBatch,
    insert_rows,
    load_field_specs,
    validate_values,
)

__all__ = ["CatalogMissing", "SeedError", "SeedResult", "seed_subjects", "subject_count"]

# Page cache of the seeding connection (KiB). SQLite's default (2 MiB) makes every batch
# re-read the indexes it extends; this keeps them in memory for the whole run.
SQLITE_CACHE_KIB = 256 * 1024


class SeedError(RuntimeError):
    """Seeding cannot proceed; the message says why (and holds no profile value)."""


class CatalogMissing(SeedError):
    """The field catalog is not loaded (or lacks the identifier the demo needs)."""


@dataclass(frozen=True)
class SeedResult:
    """What a seeding run did."""

    created: int
    existing_before: int
    seconds: float
    seed: int
    workers: int

    @property
    def rate(self) -> float:
        """Subjects written per second."""
        return self.created / self.seconds if self.seconds > 0 else float("inf")


@dataclass(frozen=True)
class _Plan:
    """Everything a worker needs to build batches (picklable: paths, not keys)."""

    specs: dict[str, FieldSpec]
    kek_file: Path
    blind_index_file: Path
    seed: int


def subject_count(db: Session) -> int:
    """How many subjects exist."""
    return int(db.scalar(select(func.count()).select_from(Subject)) or 0)


def _catalog(db: Session) -> dict[str, FieldSpec]:
    specs = load_field_specs(db)
    if not specs:
        raise CatalogMissing(
            "The field catalog is not loaded; load it first with "
            "`governance catalog load --default` (or run `governance demo bootstrap`)."
        )
    if "mobile" not in specs:
        raise CatalogMissing("The field catalog has no 'mobile' field; demo data needs it.")
    return specs


def build_batch(plan: _Plan, crypto: ProfileCrypto, start: int, size: int) -> BatchRows:
    """Generate, validate and encrypt the customers at global indexes ``start..start+size``."""
    factory = CustomerFactory(plan.seed, start)
    people = []
    for _ in range(size):
        subject_id, values = factory.customer()
        known = {k: v for k, v in values.items() if k in plan.specs}
        try:
            people.append((subject_id, validate_values(plan.specs, known)))
        except ApiError as exc:
            # The loaded catalog types a field differently from the demo generator.
            raise SeedError(f"demo data does not fit the catalog: {exc.detail}") from None
    # Inserting in key order keeps each batch's B-tree writes close together.
    people.sort(key=lambda p: p[0])
    batch = SubjectBatch(plan.specs, crypto)
    for subject_id, values in people:
        batch.add(subject_id, values, validated=True)
    return batch.take()


# -- worker processes ------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(plan: _Plan) -> None:
    # Nothing here may fail: a pool re-spawns workers whose initializer raises, forever.
    _WORKER["plan"] = plan


def _build_in_worker(start: int, size: int) -> BatchRows:
    plan: _Plan = _WORKER["plan"]
    if "crypto" not in _WORKER:  # read the keys once per worker, failing into the task
        _WORKER["crypto"] = ProfileCrypto.from_files(plan.kek_file, plan.blind_index_file)
    return build_batch(plan, _WORKER["crypto"], start, size)


def default_workers() -> int:
    """Worker processes to use: one per spare CPU, at most four."""
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def _batches(plan: _Plan, chunks: list[tuple[int, int]], workers: int) -> Iterator[BatchRows]:
    # Read the keys here first: a missing or unreadable key file fails before any work.
    crypto = ProfileCrypto.from_files(plan.kek_file, plan.blind_index_file)
    if workers < 1 or len(chunks) < 2:
        for start, size in chunks:
            yield build_batch(plan, crypto, start, size)
        return
    # spawn, not fork: the parent holds database connections and threads.
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(plan,)) as pool:
        todo = iter(chunks)
        pending: deque[AsyncResult[BatchRows]] = deque()
        for start, size in todo:
            pending.append(pool.apply_async(_build_in_worker, (start, size)))
            if len(pending) > workers:
                break
        while pending:
            rows = pending.popleft().get()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.apply_async(_build_in_worker, nxt))
            yield rows


def seed_subjects(
    engine: Engine,
    key_paths: KeyPaths,
    count: int,
    *,
    vault: Engine,
    seed: int | None = None,
    batch_size: int = 5000,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> SeedResult:
    """Create ``count`` fictional subjects, committing after every batch.

    A command-level operation (it opens its own connection and commits), used by
    ``governance demo seed`` and the benchmarks. Generated fields that the loaded catalog
    does not know are left out; the rest are validated like any other write.
    """
    if count < 0 or batch_size < 1:
        raise ValueError("count must be >= 0 and batch_size >= 1")
    seed = secrets.randbits(32) if seed is None else seed
    workers = default_workers() if workers is None else workers
    started = time.perf_counter()
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            conn.commit()
        with Session(bind=conn, autoflush=False, expire_on_commit=False) as db:
            specs = _catalog(db)
            existing = subject_count(db)
            db.commit()
            plan = _Plan(specs, key_paths.kek, key_paths.blind_index, seed)
            chunks = [
                (existing + done, min(batch_size, count - done))
                for done in range(0, count, batch_size)
            ]
            used = min(workers, len(chunks)) if len(chunks) > 1 else 0
            created = 0
            for rows in _batches(plan, chunks, used):
                created += insert_rows(db, rows, vault=vault)
                db.commit()
                if progress is not None:
                    progress(len(rows))
    return SeedResult(created, existing, time.perf_counter() - started, seed, used)
