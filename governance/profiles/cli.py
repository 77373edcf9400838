"""``governance profiles``: operator commands on the profile store that reveal no values.

``governance profiles find --field mobile`` reads the value to look up from standard input
(so it stays out of shell history and process lists) and prints matching subject ids only.
"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from governance.db import get_session
from governance.errors import ApiError
from governance.profiles.store import find_subject_by

profiles_group = AppGroup(
    "profiles", help="Protected profiles (no command here prints a profile value)."
)


@profiles_group.command("find")
@click.option("--field", "field_name", required=True, help="Identifier field, e.g. mobile.")
def find(field_name: str) -> None:
    """Print ids of subjects whose FIELD equals the value read from standard input."""
    if sys.stdin.isatty():
        value = click.prompt(field_name, hide_input=True, err=True)
    else:
        value = sys.stdin.readline().strip()
    try:
        ids = find_subject_by(get_session(), field_name, value)
    except ApiError as exc:
        raise click.UsageError(exc.detail) from None
    if not ids:
        click.echo("no subject found", err=True)
        raise SystemExit(1)
    for subject_id in ids:
        click.echo(subject_id)
