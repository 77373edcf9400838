"""The Alembic migrations agree with the models and go up, down and up again.

Runs on the suite's database: SQLite by default, PostgreSQL when
``GOVERNANCE_TEST_DATABASE_URL`` is set (``make test`` runs both).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from click.testing import Result
from flask import Flask
from sqlalchemy import Column, Engine, MetaData, String, inspect, text
from sqlalchemy.exc import IntegrityError

from governance import create_app
from governance.cli import main
from governance.db import get_engine, make_engine
from governance.migrate import MIGRATIONS_DIR, alembic_config
from governance.models import metadata

APP_TABLES = frozenset(metadata.tables)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the test's empty database (no tables created)."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


def migrate(
    engine: Engine, direction: str, revision: str, *, key_vault_url: str | None = None
) -> None:
    """Run ``alembic upgrade|downgrade revision`` on a connection of ``engine``."""
    with engine.connect() as conn:  # outside a transaction: Alembic commits (see env.py)
        cfg = alembic_config(
            engine.url.render_as_string(hide_password=False), conn, key_vault_url=key_vault_url
        )
        if direction == "up":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)


def differences(engine: Engine, target: MetaData = metadata) -> list[Any]:
    """What autogenerate would still write: the models against the migrated schema."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, target))


def app_tables(engine: Engine) -> set[str]:
    """The tables in the database, less Alembic's own bookkeeping."""
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def revisions() -> list[Script]:
    """Every revision, oldest first."""
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    return list(reversed(list(scripts.walk_revisions("base", "heads"))))


def test_migrations_form_one_line_of_numbered_revisions() -> None:
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(scripts.get_heads()) == 1, "merge the branches: more than one head"
    for script in revisions():
        assert re.fullmatch(r"\d{4}", script.revision), script.revision
        assert Path(script.path).name.startswith(f"{script.revision}_"), script.path


def test_upgrade_to_head_builds_exactly_the_models(engine: Engine) -> None:
    migrate(engine, "up", "head")

    assert app_tables(engine) == APP_TABLES
    assert differences(engine) == [], "models changed without a migration: make migration"


def test_a_model_change_without_a_migration_is_detected(engine: Engine) -> None:
    migrate(engine, "up", "head")
    changed = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(changed)
    table_name = sorted(changed.tables)[0]
    changed.tables[table_name].append_column(Column("added_without_migration", String(8)))

    found = differences(engine, changed)

    assert [(d[0], d[2], d[3].name) for d in found] == [
        ("add_column", table_name, "added_without_migration")
    ]


def test_each_revision_downgrades_and_upgrades_again(engine: Engine) -> None:
    for script in revisions():
        migrate(engine, "up", script.revision)
        before = app_tables(engine)
        down = script.down_revision
        migrate(engine, "down", down if isinstance(down, str) else "base")
        migrate(engine, "up", script.revision)
        assert app_tables(engine) == before, script.revision

    assert differences(engine) == []


def test_upgrade_downgrade_to_base_upgrade_round_trip(engine: Engine) -> None:
    migrate(engine, "up", "head")
    migrate(engine, "down", "base")

    assert app_tables(engine) == set()

    migrate(engine, "up", "head")

    assert app_tables(engine) == APP_TABLES
    assert differences(engine) == []


def governance(app: Flask, *args: str) -> Result:
    """Run ``governance ARGS...`` (the console script's group) on ``app``."""
    return app.test_cli_runner().invoke(main, list(args))


@pytest.fixture
def other_engine(new_database_url: Any) -> Iterator[Engine]:
    """A second empty database on the same backend (a schema of its own on PostgreSQL)."""
    eng = make_engine(new_database_url())
    yield eng
    eng.dispose()


def triggers(engine: Engine) -> set[tuple[str, str]]:
    """(trigger, table) pairs: DDL that autogenerate cannot see, such as the audit guards."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.execute(
                text("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'")
            )
        else:
            rows = conn.execute(
                text(
                    "SELECT t.tgname, c.relname FROM pg_trigger t"
                    " JOIN pg_class c ON c.oid = t.tgrelid"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE NOT t.tgisinternal AND n.nspname = current_schema()"
                )
            )
        return {(name, table) for name, table in rows}


def test_migrations_create_the_triggers_the_models_create(
    engine: Engine, other_engine: Engine
) -> None:
    metadata.create_all(other_engine)

    migrate(engine, "up", "head")

    assert triggers(engine) == triggers(other_engine)


@pytest.fixture
def bare_app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """An app whose database has no tables: the migrations must make them."""
    application = create_app(app_config)
    yield application
    get_engine(application).dispose()


def test_cli_db_upgrade_builds_a_fresh_database(bare_app: Flask) -> None:
    head = revisions()[-1].revision

    upgraded = governance(bare_app, "db", "upgrade")
    current = governance(bare_app, "db", "current")

    assert upgraded.exit_code == 0, upgraded.output
    assert "database at revision head" in upgraded.output
    assert current.exit_code == 0, current.output
    engine = get_engine(bare_app)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == (head,)
    assert app_tables(engine) == APP_TABLES
    assert differences(engine) == []


def test_cli_db_downgrade_to_base_empties_the_database(bare_app: Flask) -> None:
    assert governance(bare_app, "db", "upgrade").exit_code == 0

    result = governance(bare_app, "db", "downgrade", "base")

    assert result.exit_code == 0, result.output
    assert app_tables(get_engine(bare_app)) == set()


def test_brands_revision_keeps_every_row_and_gives_it_the_default_brand(engine: Engine) -> None:
    """0004 rebuilds tables that other rows refer to (on SQLite); nothing may be lost."""
    migrate(engine, "up", "0003")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO subjects (id, created_at) VALUES ('sub_migrated0001', :t)"),
            {"t": "2026-01-02 03:04:05"},
        )
        conn.execute(
            text(
                "INSERT INTO subject_keys (subject_id, key_version, wrapped_key, created_at) "
                "VALUES ('sub_migrated0001', 1, 'kek-fictional:AAAA', :t)"
            ),
            {"t": "2026-01-02 03:04:05"},
        )
        conn.execute(
            text(
                "INSERT INTO operators (username, display_name, password_hash, roles, "
                "created_at) VALUES ('mia.migrated', 'Mia', 'x', '[\"dpo\"]', :t)"
            ),
            {"t": "2026-01-02 03:04:05"},
        )

    migrate(engine, "up", "0008")  # 0009 moves the keys to the vault (its own test)

    with engine.connect() as conn:
        subject = conn.execute(text("SELECT id, brand_id FROM subjects")).one()
        keys = conn.execute(text("SELECT subject_id FROM subject_keys")).all()
        operator = conn.execute(text("SELECT username, brand_id FROM operators")).one()
        brands = conn.execute(text("SELECT id FROM brands")).scalars().all()
    assert tuple(subject) == ("sub_migrated0001", "default")
    assert [tuple(k) for k in keys] == [("sub_migrated0001",)]
    assert tuple(operator) == ("mia.migrated", None)  # no brand: works for the whole group
    assert brands == ["default"]
    # References are enforced again after the migration: an unknown brand is refused.
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(
            text("INSERT INTO subjects (id, brand_id, created_at) VALUES ('sub_x', 'nope', :t)"),
            {"t": "2026-01-02 03:04:05"},
        )


def index_definitions(engine: Engine) -> dict[str, str]:
    """Every index (keys included) as the database describes it, schema names left out."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            rows = conn.execute(
                text("SELECT name, coalesce(sql, tbl_name) FROM sqlite_master WHERE type = 'index'")
            )
            return {name: " ".join(sql.split()) for name, sql in rows}
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        rows = conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
        )
        return {name: sql.replace(f"{schema}.", "") for name, sql in rows}


def test_migrations_create_the_indexes_the_models_create(
    engine: Engine, other_engine: Engine
) -> None:
    """Autogenerate does not compare what an index INCLUDEs; this does."""
    metadata.create_all(other_engine)

    migrate(engine, "up", "head")

    migrated = {
        name: sql for name, sql in index_definitions(engine).items() if "alembic_version" not in sql
    }
    assert migrated == index_definitions(other_engine)
    if engine.dialect.name == "postgresql":
        assert "INCLUDE (status, tier" in migrated["pk_consent_states"]


def _with_a_key(engine: Engine) -> None:
    migrate(engine, "up", "0008")
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO subjects (id, created_at) VALUES ('sub_migrated0002', :t)"),
            {"t": "2026-01-02 03:04:05"},
        )
        conn.execute(
            text(
                "INSERT INTO subject_keys (subject_id, key_version, wrapped_key, created_at) "
                "VALUES ('sub_migrated0002', 1, 'kek-fictional:BBBB', :t)"
            ),
            {"t": "2026-01-02 03:04:05"},
        )


def test_the_key_vault_revision_moves_every_key_out_of_the_database(
    engine: Engine, tmp_path: Path
) -> None:
    vault_url = f"sqlite:///{tmp_path / 'vault.sqlite3'}"
    _with_a_key(engine)

    migrate(engine, "up", "head", key_vault_url=vault_url)

    assert "subject_keys" not in app_tables(engine)
    assert differences(engine) == []
    vault = make_engine(vault_url)
    with vault.connect() as conn:
        moved = conn.execute(text("SELECT subject_id, wrapped_key FROM subject_keys")).all()
    assert [tuple(k) for k in moved] == [("sub_migrated0002", "kek-fictional:BBBB")]

    migrate(engine, "down", "0008", key_vault_url=vault_url)
    with engine.connect() as conn:
        back = conn.execute(text("SELECT subject_id, wrapped_key FROM subject_keys")).all()
    assert [tuple(k) for k in back] == [("sub_migrated0002", "kek-fictional:BBBB")]
    vault.dispose()


def test_the_key_vault_revision_without_a_vault_changes_nothing(engine: Engine) -> None:
    _with_a_key(engine)

    with pytest.raises(RuntimeError, match="no vault is named"):
        migrate(engine, "up", "head")

    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == ("0008",)
        keys = conn.execute(text("SELECT subject_id FROM subject_keys")).all()
    assert [tuple(k) for k in keys] == [("sub_migrated0002",)]
