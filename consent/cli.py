"""``governance consent ...``: the ledger's commands.

``rebuild`` recomputes the current-state projection from the events (``--check`` only
reports whether they differ); ``sweep`` records the expiries and re-consent marks that
checks already apply. Other packages attach their commands to :data:`consent_group`
(``deliver``, in :mod:`consent.webhooks.cli`).
"""

from __future__ import annotations

import sys

import click
from flask import Flask
from flask.cli import AppGroup

from consent import ledger
from governance.db import get_session

consent_group = AppGroup("consent", help="The consent ledger: projection, sweeps, delivery.")


@consent_group.command("rebuild")
@click.option("--check", is_flag=True, help="Only report differences; write nothing.")
def rebuild_command(check: bool) -> None:
    """Recompute consent states from the events (exit 1 with --check if they differ)."""
    session = get_session()
    if check:
        differ = ledger.differences(session)
        session.rollback()
        click.echo(
            f"{len(differ)} of the subject/purpose states differ from the replay of "
            f"{ledger.count_events(session)} events"
        )
        if differ:
            for subject, purpose in differ[:20]:
                click.echo(f"  {subject} {purpose}")
            sys.exit(1)
        return
    changed = ledger.rebuild(session)
    session.commit()
    click.echo(f"consent states rebuilt from the events; {changed} differed before")


@consent_group.command("sweep")
def sweep_command() -> None:
    """Record expiries and re-consent marks as events (checks apply them already)."""
    session = get_session()
    counts = ledger.sweep(session)
    session.commit()
    click.echo(
        f"recorded {counts['expire']} expiries and {counts['reconsent_required']} re-consent marks"
    )


def init_app(app: Flask) -> None:
    """Register the ``consent`` command group."""
    app.cli.add_command(consent_group)
