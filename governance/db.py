"""Database wiring: one declarative ``Base``, one engine per app, one session per request.

Models everywhere subclass :class:`Base`. The engine is created by :func:`init_app`, never
at import. Views and CLI commands get the request's session with :func:`get_session`;
services receive it as an argument and never commit: the view or command commits at its
boundary, and the session is closed at teardown.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import NullPool
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are refused; use governance.db.utcnow()")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        """Return UTC-aware datetimes (SQLite hands back naive ones)."""
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    """The one declarative base; its metadata names every constraint."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def utcnow() -> dt.datetime:
    """Return the current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


#: Per connection: address space mapped for reads, and the page cache.
SQLITE_MMAP_BYTES = 1 << 30
SQLITE_CACHE_KIB = 64 * 1024


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    # Reads through a memory map and a larger page cache: hot-path lookups (consent checks,
    # proofs) would otherwise copy every page through a read() call into a 2 MB cache.
    cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cursor.close()


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with the settings this platform relies on."""
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):
        # Pooled: opening a SQLite connection and closing the last one (which checkpoints
        # the WAL) cost a millisecond or more, more than a whole audit append.
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "connect", _remember_pid)
    event.listen(engine, "checkout", _refuse_other_pid)
    return engine


def _remember_pid(_dbapi_connection: Any, record: Any) -> None:
    record.info["pid"] = os.getpid()


def _refuse_other_pid(_dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection never crosses a fork: the child opens its own."""
    if record.info.get("pid") != os.getpid():
        record.dbapi_connection = proxy.dbapi_connection = None
        raise exc.DisconnectionError(
            f"connection opened in process {record.info.get('pid')}, checked out in {os.getpid()}"
        )


def init_app(app: Flask) -> None:
    """Create the app's engines and session factory and close sessions at teardown.

    Sessions route the key vault's models (:mod:`governance.profiles.vault`) to the vault
    engine and everything else to the main database.
    """
    from governance.profiles import vault

    engine = make_engine(app.config["DATABASE_URL"], echo=app.config["DATABASE_ECHO"])
    vault_engine = vault.init_app(app)
    app.extensions["governance.engine"] = engine
    app.extensions["governance.sessionmaker"] = sessionmaker(
        bind=engine,
        binds={vault.VaultBase: vault_engine, vault.KEYS: vault_engine},
        expire_on_commit=False,
        autoflush=False,
    )
    app.teardown_appcontext(_close_session)


def get_engine(app: Flask | None = None) -> Engine:
    """Return the engine of ``app`` (default: the current app)."""
    app = app or current_app
    engine: Engine = app.extensions["governance.engine"]
    return engine


def get_session() -> Session:
    """Return the session of the current request or command, opening it on first use."""
    if "db_session" not in g:
        factory: sessionmaker[Session] = current_app.extensions["governance.sessionmaker"]
        g.db_session = factory()
    session: Session = g.db_session
    return session


def _close_session(_exc: BaseException | None) -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()
