"""Fixture chain shared by every test package: app -> db -> client/runner -> role helpers.

Each test gets its own database: a fresh SQLite file, or, when
``GOVERNANCE_TEST_DATABASE_URL`` names a PostgreSQL server (``make test`` starts a
throwaway one), a fresh schema on it. Package-specific fixtures live beside their tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from governance import create_app
from governance.db import get_engine
from governance.models import metadata

PG_URL = os.environ.get("GOVERNANCE_TEST_DATABASE_URL", "")
DEFAULT_CATALOG = Path(__file__).resolve().parent.parent / "consent" / "catalog" / "default.yaml"


def pytest_report_header() -> str:
    """Say which database the suite runs on."""
    return f"database: {'postgresql' if PG_URL else 'sqlite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``postgres``-marked tests on SQLite: they run in the PostgreSQL pass."""
    if PG_URL:
        return
    kept = [item for item in items if item.get_closest_marker("postgres") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture
def new_database_url(tmp_path: Path) -> Iterator[Any]:
    """Return a callable making URLs of empty databases, all dropped after the test.

    A fresh SQLite file each, or, on PostgreSQL, a fresh schema on the test server.
    """
    cleanups: list[Any] = []

    def make() -> str:
        if not PG_URL:
            return f"sqlite:///{tmp_path / f'db-{uuid.uuid4().hex[:8]}.sqlite3'}"
        schema = f"t_{uuid.uuid4().hex[:16]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

        cleanups.append(drop)
        url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return url.render_as_string(hide_password=False)

    yield make
    for drop in reversed(cleanups):
        drop()


@pytest.fixture
def database_url(new_database_url: Any) -> str:
    """A URL of an empty database of this test's own."""
    url: str = new_database_url()
    return url


@pytest.fixture
def app_config(tmp_path: Path, database_url: str) -> dict[str, Any]:
    """The test mapping handed to create_app (tests may amend it before ``app``)."""
    return {
        "ENV": "testing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "TESTING": True,
        "PUBLIC_BASE_URL": "http://portal.example.com",
        # Test apps are many and short-lived; tests/audit covers the exit checkpoint.
        "AUDIT_CHECKPOINT_ON_SHUTDOWN": False,
        # A busy 2-core CI machine can pause one decision past the production limit
        # (200 ms), which denies it (engine_error) and fails an unrelated test; the tests
        # of the limit itself (tests/policies/test_engine.py) set their own.
        "POLICY_TIMEOUT_MS": 10_000,
    }


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """An app on an empty database with every table created."""
    application = create_app(app_config)
    engine = get_engine(application)
    metadata.create_all(engine)
    yield application
    engine.dispose()


@pytest.fixture
def catalog(app: Flask) -> Any:
    """Load and commit the default catalog; returns the loader's result."""
    from consent.catalog.loader import load_catalog_file
    from governance.db import get_session

    with app.app_context():
        db = get_session()
        result = load_catalog_file(db, DEFAULT_CATALOG)
        db.commit()
    return result


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """The app's session inside an app context (commit to make changes visible)."""
    from governance.db import get_session

    with app.app_context():
        yield get_session()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    """A CLI runner bound to the app."""
    return app.test_cli_runner()


# -- actors --------------------------------------------------------------------------------


class ActorClient:
    """A test client acting as one actor; adds its credentials to every request."""

    def __init__(self, client: FlaskClient, headers: dict[str, str] | None = None) -> None:
        self.client = client
        self.headers = dict(headers or {})

    def csrf(self) -> str:
        """The session's CSRF token (cookie actors send it as X-CSRFToken)."""
        resp = self.client.get("/api/v1/whoami", headers=self.headers)
        assert resp.status_code == 200, resp.get_json()
        token: str = resp.get_json()["csrf_token"]
        return token

    def open(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if method.upper() not in {"GET", "HEAD", "OPTIONS"} and "Authorization" not in headers:
            headers.setdefault("X-CSRFToken", self.csrf())
        return self.client.open(path, method=method.upper(), headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.open("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.open("POST", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.open("DELETE", path, **kwargs)


@pytest.fixture
def make_operator(app: Flask) -> Any:
    """Create an operator with ``roles`` (of one ``brand``, or the group); returns its id."""
    from governance.auth import services
    from governance.db import get_session

    def make(
        *roles: str,
        username: str | None = None,
        password: str = "correct horse battery",
        brand: str | None = None,
    ) -> int:
        with app.app_context():
            db = get_session()
            op = services.create_operator(
                db, username or f"op-{uuid.uuid4().hex[:8]}", password, list(roles), brand=brand
            )
            db.commit()
            return op.id

    return make


@pytest.fixture
def as_operator(app: Flask, make_operator: Any) -> Any:
    """A client signed in (second factor done) as a new operator with ``roles``."""
    from governance.auth import services

    def sign_in(*roles: str, brand: str | None = None) -> ActorClient:
        op_id = make_operator(*roles, brand=brand)
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(
                actor_type="operator",
                actor_id=op_id,
                expires_at=services.session_expiry(30),
                mfa_at=int(__import__("time").time()),
            )
        return ActorClient(client)

    return sign_in


@pytest.fixture
def as_dpo(as_operator: Any) -> ActorClient:
    """A client signed in as a DPO."""
    client: ActorClient = as_operator("dpo")
    return client


@pytest.fixture
def as_admin(as_operator: Any) -> ActorClient:
    """A client signed in as an administrator."""
    client: ActorClient = as_operator("admin")
    return client


@pytest.fixture
def as_service(app: Flask) -> Any:
    """A client authenticated by a new API key (of ``brand``) scoped to ``purposes``."""
    from governance.auth import services
    from governance.brands import DEFAULT_BRAND
    from governance.db import get_session

    def make(
        purposes: list[str] | None = None,
        permissions: list[str] | None = None,
        brand: str = DEFAULT_BRAND,
    ) -> ActorClient:
        purposes = purposes or []
        with app.app_context():
            db = get_session()
            new = services.create_api_key(
                db,
                "test service",
                purposes,
                permissions,
                known_purposes=set(purposes),
                brand=brand,
            )
            db.commit()
        return ActorClient(app.test_client(), {"Authorization": f"Bearer {new.token}"})

    return make


@pytest.fixture
def as_subject(app: Flask) -> Any:
    """A client in a customer's portal session as subject ``subject_id``."""
    from governance.auth import services

    def make(subject_id: str) -> ActorClient:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(
                actor_type="subject",
                actor_id=subject_id,
                expires_at=services.session_expiry(30),
            )
        return ActorClient(client)

    return make


# -- other processes ----------------------------------------------------------------------

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def child_config(app: Flask, app_config: dict[str, Any]) -> dict[str, Any]:
    """The test app's settings as JSON, for apps built in other processes (same keys)."""
    config = {key: value for key, value in app_config.items() if isinstance(value, str | bool)}
    config["INSTANCE_PATH"] = app.instance_path
    config["DATABASE_URL"] = app.config["DATABASE_URL"]
    config["KEY_DIR"] = str(Path(app.config["KEY_PATHS"].audit_signing).parent)
    return config


@pytest.fixture
def python_process() -> Iterator[Any]:
    """Start ``python -c CODE`` with ``config`` (JSON) as its argument; killed if left over."""
    started: list[subprocess.Popen[str]] = []

    def start(code: str, config: Mapping[str, Any], *args: str) -> subprocess.Popen[str]:
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
        env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
        proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(dict(config)), *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()


# -- "nothing was written" ----------------------------------------------------------------


@pytest.fixture
def db_snapshot(app: Flask) -> Any:
    """Return a callable giving every row of every table, to compare before and after."""
    from sqlalchemy import select

    def snapshot() -> dict[str, list[tuple[Any, ...]]]:
        engine = get_engine(app)
        out: dict[str, list[tuple[Any, ...]]] = {}
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                rows = conn.execute(select(table)).all()
                out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        return out

    return snapshot


@pytest.fixture
def stored_bytes(app: Flask) -> Any:
    """Return a callable giving everything the database stores, to grep for plaintext.

    On SQLite: the database file and its WAL. On PostgreSQL: every column of every row of
    every table (binary as is, the rest as text).
    """
    from sqlalchemy import select

    def read() -> bytes:
        engine = get_engine(app)
        url = app.config["DATABASE_URL"]
        if url.startswith("sqlite:///"):
            engine.dispose()
            path = Path(url.removeprefix("sqlite:///"))
            parts = [path, path.with_name(path.name + "-wal")]
            return b"".join(p.read_bytes() for p in parts if p.exists())
        chunks: list[bytes] = []
        with engine.connect() as conn:
            for table in metadata.sorted_tables:
                for row in conn.execute(select(table)):
                    for value in row:
                        raw = value if isinstance(value, bytes | memoryview) else None
                        chunks.append(bytes(raw) if raw is not None else str(value).encode())
        return b"\x00".join(chunks)

    return read
