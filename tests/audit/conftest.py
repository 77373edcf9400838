"""Audit test helpers: appending, raw SQL behind the log's back, the CLI, other processes.

Entries appended here go through :func:`audit.log.append` without a signer, so no
checkpoint is signed unless a test asks for one (the test app's periodic interval would
otherwise sign one at the first :func:`audit.record`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import Engine, select, text

import audit
from audit import ddl
from audit.log import (
    Appended,
    CheckpointInfo,
    all_checkpoints,
    append,
    create_checkpoint,
    forget_head,
)
from audit.models import ENTRIES
from audit.verify import Report, verify_database
from governance import create_app
from governance.db import get_engine, get_session


@pytest.fixture
def engine(app: Flask) -> Engine:
    """The test app's engine."""
    return get_engine(app)


@pytest.fixture
def dialect(engine: Engine) -> str:
    """``sqlite`` or ``postgresql``: the database this run tests."""
    return engine.dialect.name


@pytest.fixture
def append_entries(app: Flask) -> Any:
    """Append ``n`` fictional entries, each committed on its own; returns where they landed.

    Keyword arguments go to :func:`audit.log.append` (``details`` may be a callable of the
    entry's number within this call).
    """

    def add(n: int = 1, *, target: Flask | None = None, **fields: Any) -> list[Appended]:
        details = fields.pop("details", None)
        fields.setdefault("action", "test.event")
        fields.setdefault("actor_type", "system")
        fields.setdefault("actor_id", "audit-tests")
        out = []
        with (target or app).app_context():
            session = get_session()
            for i in range(n):
                value = details(i) if callable(details) else details
                out.append(append(session, details=value or {"n": i}, **fields))
                session.commit()
        return out

    return add


@pytest.fixture
def sign_checkpoint(app: Flask) -> Any:
    """Sign a checkpoint over the current log (as ``governance audit checkpoint`` does)."""

    def sign() -> CheckpointInfo:
        with app.app_context():
            session = get_session()
            info, _created = create_checkpoint(session, audit.get_signer())
            session.commit()
        return info

    return sign


@pytest.fixture
def raw_sql(engine: Engine) -> Any:
    """Run SQL statements in one transaction, behind the log's back (tamper tests)."""

    def run(*statements: str, **params: Any) -> None:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement), params)

    return run


@pytest.fixture
def drop_guards(engine: Engine, dialect: str, raw_sql: Any) -> Any:
    """Drop the append-only triggers of both audit tables (what a tamperer does first)."""

    def drop() -> None:
        for table in ddl.GUARDED_TABLES:
            raw_sql(*ddl.drop_statements(table, dialect))

    return drop


@pytest.fixture
def entry_rows(engine: Engine) -> Any:
    """Every stored entry, as column mappings in ``seq`` order."""

    def read() -> list[dict[str, Any]]:
        with engine.connect() as conn:
            rows = conn.execute(select(ENTRIES).order_by(ENTRIES.c.seq)).mappings()
            return [dict(row) for row in rows]

    return read


@pytest.fixture
def stored_checkpoints(engine: Engine) -> Any:
    """Every stored checkpoint, oldest first."""

    def read() -> list[CheckpointInfo]:
        with engine.connect() as conn:
            return all_checkpoints(conn)

    return read


@pytest.fixture
def verify_now(app: Flask, engine: Engine) -> Any:
    """Verify the test database with the app's public key; returns the report."""

    def run(*, since_checkpoint: bool = False) -> Report:
        with app.app_context():
            keys = audit.public_keys()
            origin = audit.log_origin(app)
        return verify_database(engine, keys, origin=origin, since_checkpoint=since_checkpoint)

    return run


@pytest.fixture
def audit_cli(app: Flask) -> Any:
    """Run ``governance audit ARGS...`` through the app's CLI runner."""

    def invoke(*args: str) -> Result:
        return app.test_cli_runner().invoke(args=["audit", *args])

    return invoke


@pytest.fixture
def make_app(app: Flask, app_config: dict[str, Any]) -> Iterator[Any]:
    """Another app (own engine, own head cache) on the test database, settings amended."""
    made: list[Flask] = []

    def make(**overrides: Any) -> Flask:
        other = create_app({**app_config, **overrides})
        made.append(other)
        return other

    yield make
    for other in made:
        get_engine(other).dispose()


@pytest.fixture
def forget_cached_head(engine: Engine) -> Any:
    """Drop the test app's cached log head, as a freshly started process has none."""
    return lambda: forget_head(engine)


@pytest.fixture
def all_rows(engine: Engine) -> Any:
    """Row counts of both audit tables."""

    def count() -> tuple[int, int]:
        with engine.connect() as conn:
            entries = conn.execute(text("SELECT count(*) FROM audit_entries")).scalar_one()
            cps = conn.execute(text("SELECT count(*) FROM audit_checkpoints")).scalar_one()
        return int(entries), int(cps)

    return count
