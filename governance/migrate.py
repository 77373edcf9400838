"""Alembic, driven from the application: ``governance db upgrade|downgrade|current``.

The Alembic environment lives in ``migrations/`` at the top of the project; it is found
through the ``migrations`` package, so it works from an installed copy too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import Connection

import migrations

MIGRATIONS_DIR = Path(migrations.__file__).resolve().parent


def alembic_config(
    url: str, connection: Connection | None = None, *, key_vault_url: str | None = None
) -> Config:
    """An Alembic config for ``url``; pass ``connection`` to run on it (tests).

    ``key_vault_url``: the key vault, for the revision that moves data keys there (0009).
    """
    cfg = Config(stdout=sys.stdout)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if key_vault_url:
        cfg.set_main_option("key_vault_url", key_vault_url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _vault_url() -> str | None:
    url: str | None = current_app.config.get("KEY_VAULT_URL")
    return url


def upgrade(url: str, revision: str = "head", *, key_vault_url: str | None = None) -> None:
    """Upgrade the database at ``url`` to ``revision``."""
    command.upgrade(alembic_config(url, key_vault_url=key_vault_url), revision)


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Database schema (Alembic migrations)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database to REVISION (default: head)."""
    upgrade(current_app.config["DATABASE_URL"], revision, key_vault_url=_vault_url())
    click.echo(f"database at revision {revision}")


@db_group.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Downgrade the database to REVISION (e.g. base)."""
    command.downgrade(
        alembic_config(current_app.config["DATABASE_URL"], key_vault_url=_vault_url()), revision
    )
    click.echo(f"database at revision {revision}")


@db_group.command("current")
def db_current() -> None:
    """Show the database's current revision."""
    command.current(alembic_config(current_app.config["DATABASE_URL"]))
