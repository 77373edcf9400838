"""The database refuses UPDATE and DELETE on audit rows, through the ORM and raw SQL.

Runs on SQLite and on PostgreSQL (``make test`` runs the suite once on each); TRUNCATE is
a PostgreSQL statement and is refused there too.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, text, update
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from audit.ddl import MESSAGE
from audit.models import AuditCheckpoint, AuditEntry


@pytest.fixture
def filled(
    append_entries: Any, sign_checkpoint: Any, entry_rows: Any, stored_checkpoints: Any
) -> Any:
    """A log of three entries and one checkpoint; returns a snapshot reader."""
    append_entries(3)
    sign_checkpoint()

    def snapshot() -> tuple[list[dict[str, Any]], list[Any]]:
        return entry_rows(), stored_checkpoints()

    return snapshot


RAW_CHANGES = [
    "UPDATE audit_entries SET details = '{}' WHERE seq = 1",
    "UPDATE audit_entries SET seq = seq + 10",
    "DELETE FROM audit_entries WHERE seq = 2",
    "DELETE FROM audit_entries",
    "UPDATE audit_checkpoints SET tree_size = 2",
    "DELETE FROM audit_checkpoints",
]


@pytest.mark.parametrize("statement", RAW_CHANGES)
def test_raw_sql_cannot_change_or_remove_audit_rows(
    engine: Engine, filled: Any, statement: str
) -> None:
    before = filled()
    with pytest.raises(DatabaseError, match=MESSAGE), engine.begin() as conn:
        conn.execute(text(statement))
    assert filled() == before


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(engine: Engine, dialect: str, filled: Any) -> None:
    assert dialect == "postgresql"
    before = filled()
    for table in ("audit_entries", "audit_checkpoints"):
        with pytest.raises(DatabaseError, match=MESSAGE), engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table}"))
    assert filled() == before


def test_the_orm_cannot_change_an_entry(engine: Engine, filled: Any) -> None:
    before = filled()
    with Session(engine) as session:
        entry = session.get(AuditEntry, 1)
        assert entry is not None
        entry.decision = "deny"
        with pytest.raises(DatabaseError, match=MESSAGE):
            session.commit()
    assert filled() == before


def test_the_orm_cannot_delete_an_entry_or_a_checkpoint(engine: Engine, filled: Any) -> None:
    before = filled()
    for model, key in ((AuditEntry, 0), (AuditCheckpoint, 0)):
        with Session(engine) as session:
            row = session.get(model, key)
            session.delete(row)
            with pytest.raises(DatabaseError, match=MESSAGE):
                session.commit()
    assert filled() == before


def test_orm_bulk_statements_are_refused(engine: Engine, filled: Any) -> None:
    before = filled()
    statements = [
        update(AuditEntry).values(purpose="analytics"),
        delete(AuditEntry).where(AuditEntry.seq >= 1),
        update(AuditCheckpoint).values(key_id="0" * 16),
    ]
    for statement in statements:
        with Session(engine) as session:
            with pytest.raises(DatabaseError, match=MESSAGE):
                session.execute(statement)
            session.rollback()
    assert filled() == before


def test_inserting_stays_allowed_and_the_primary_key_refuses_a_second_entry_n(
    engine: Engine, filled: Any
) -> None:
    entries, _ = filled()
    copy = dict(entries[1])
    with pytest.raises(DatabaseError), Session(engine) as session:
        session.execute(AuditEntry.__table__.insert(), [copy])
        session.commit()
    with Session(engine) as session:
        seqs = session.execute(select(AuditEntry.seq)).scalars().all()
    assert seqs == [0, 1, 2]


def test_a_migrated_database_refuses_changes_too(new_database_url: Any) -> None:
    from governance import migrate
    from governance.db import make_engine

    url = new_database_url()
    migrate.upgrade(url)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_checkpoints (id, tree_size, root_hash, chain_hash, "
                    "signed_at, key_id, body, signature) VALUES (0, 0, :h, :h, "
                    "'2026-11-25T10:00:00.000000Z', '0000000000000000', :h, :h)"
                ),
                {"h": b"\x00" * 32},
            )
        for statement in ("UPDATE audit_checkpoints SET id = 1", "DELETE FROM audit_checkpoints"):
            with pytest.raises(DatabaseError, match=MESSAGE), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()
