"""Fixture chain shared by every test package: app -> db -> client/runner -> role helpers.

Each test gets its own database: a fresh SQLite file, or, when
``GOVERNANCE_TEST_DATABASE_URL`` names a PostgreSQL server (``make test`` starts a
throwaway one), a fresh schema on it. Package-specific fixtures live beside their tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
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


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of this test's own."""
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'test.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def app_config(tmp_path: Path, database_url: str) -> dict[str, Any]:
    """The test mapping handed to create_app (tests may amend it before ``app``)."""
    return {
        "ENV": "testing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "TESTING": True,
        "PUBLIC_BASE_URL": "http://portal.example.com",
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
