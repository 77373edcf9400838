"""The key vault: subjects' wrapped data keys, in a store of their own.

Crypto-shredding (erasure, PIPL art. 47) destroys a subject's data key. For that to make
*every* copy of the subject's values unreadable, database backups included, the data key
must not be in the database that holds the values: a copy of that database taken before
the erasure would still hold the key, wrapped by a KEK that still exists. So the wrapped
data keys live here, in a separate database (``GOVERNANCE_KEY_VAULT_URL``; by default a
SQLite file in the key folder), with its own, short backup retention. Restoring a backup
of the main database against the live vault brings back no erased subject.

The app's sessions route :class:`SubjectKey` to the vault (``binds``, see
:mod:`governance.db`), so ORM and Core statements on it go to the vault. Writes that must
survive a failure of the main transaction (new keys) are committed to the vault first, on
their own (:func:`write_keys`); an orphan key (its subject never committed) holds no data.
The vault's one table is created at start-up; it has no Alembic history of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flask import Flask, current_app
from sqlalchemy import Engine, MetaData, String, Table, delete, insert, inspect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from governance.db import NAMING_CONVENTION, UTCDateTime, make_engine, utcnow

__all__ = [
    "VAULT_FILE",
    "SubjectKey",
    "VaultBase",
    "create_schema",
    "default_vault_url",
    "get_vault_engine",
    "shred",
    "write_keys",
]

#: The vault's file in the key folder when no URL is configured.
VAULT_FILE = "subject-keys.sqlite3"
_EXTENSION = "governance.vault_engine"


class VaultBase(DeclarativeBase):
    """Models stored in the key vault, not in the main database."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


class SubjectKey(VaultBase):
    """A subject's data key, wrapped by a key-encryption key (``kek-id:base64``).

    Deleting the row is the erasure: it is the only copy of the key.
    """

    __tablename__ = "subject_keys"

    subject_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key_version: Mapped[int] = mapped_column(default=1)
    wrapped_key: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


KEYS: Table = SubjectKey.__table__  # type: ignore[assignment]


def default_vault_url(key_dir: Path) -> str:
    """The development vault: a SQLite file in the key folder (mode 0700)."""
    return f"sqlite:///{key_dir / VAULT_FILE}"


def create_schema(engine: Engine) -> None:
    """Create the vault's table if it is missing."""
    VaultBase.metadata.create_all(engine)


def init_app(app: Flask) -> Engine:
    """Open the app's vault engine (its table created if missing)."""
    engine = make_engine(app.config["KEY_VAULT_URL"])
    if not inspect(engine).has_table(KEYS.name):
        create_schema(engine)
    app.extensions[_EXTENSION] = engine
    return engine


def get_vault_engine(app: Flask | None = None) -> Engine:
    """The vault engine of ``app`` (default: the current app)."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    engine: Engine = app.extensions[_EXTENSION]
    return engine


def write_keys(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Insert wrapped keys (``subject_id``, ``key_version``, ``wrapped_key``), committed now.

    Committed before the subjects' rows in the main database: a subject whose key was lost
    would be unreadable, an orphan key costs nothing.
    """
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(insert(KEYS).values(created_at=utcnow()), list(rows))


def shred(engine: Engine, subject_id: str) -> bool:
    """Destroy a subject's data key (committed at once); True if there was one."""
    with engine.begin() as conn:
        result = conn.execute(delete(KEYS).where(KEYS.c.subject_id == subject_id))
        return bool(result.rowcount)
