"""The ``governance`` command: Flask's CLI group plus every package's commands.

Commands that need the application (database, keys) run inside an app context, one
session per command, committed by the command. ``governance config env-table`` and
``--help`` work without an app (no keys or database are touched).
"""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import FlaskGroup

from governance.settings import settings_table


def _create_app() -> Flask:
    from governance import create_app

    return create_app()


@click.group("config")
def config_group() -> None:
    """Inspect configuration (works without an app)."""


@config_group.command("env-table")
def env_table() -> None:
    """Print every GOVERNANCE_* variable as a Markdown table (the README's table)."""
    click.echo("| section | variable | default | description |")
    click.echo("|---|---|---|---|")
    for section, name, default, description in settings_table():
        shown = f"`{default}`" if default else ""
        click.echo(f"| {section} | `{name}` | {shown} | {description} |")


main = FlaskGroup(
    name="governance",
    create_app=_create_app,
    add_default_commands=True,
    help="Privacy governance platform: database, catalog, keys, demo data, operators.",
)
main.add_command(config_group)


def init_app(app: Flask) -> None:
    """Register the application's own commands (packages add theirs in their init_app)."""
    from governance import migrate

    app.cli.add_command(migrate.db_group)
