"""The suite runs on the database it was given: SQLite, or PostgreSQL in make test.

Guards the PostgreSQL phase of ``make test``: if ``GOVERNANCE_TEST_DATABASE_URL`` stopped
reaching the fixtures, that phase would quietly run on SQLite again.
"""

from __future__ import annotations

import os

from sqlalchemy import text

from governance.db import make_engine


def test_database_url_fixture_uses_the_configured_backend(database_url: str) -> None:
    expected = "postgresql" if os.environ.get("GOVERNANCE_TEST_DATABASE_URL") else "sqlite"
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            assert conn.dialect.name == expected
            if expected == "postgresql":
                # Each test has a schema of its own, first on the search path.
                schema = conn.execute(text("SELECT current_schema()")).scalar_one()
                assert schema.startswith("t_")
    finally:
        engine.dispose()
