"""``governance profiles``: operator commands on the profile store.

``governance profiles find --field mobile`` reads the value to look up from standard input
(so it stays out of shell history and process lists) and prints matching subject ids only.
``governance profiles export`` runs a consented-cohort export through the guarded read
(as a registered service) into a new file; it is the only command that writes values.
"""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from governance.auth.actors import Actor
from governance.db import get_session
from governance.errors import ApiError
from governance.profiles.store import find_subject_by

profiles_group = AppGroup(
    "profiles",
    help="Protected profiles (values leave only through the guarded read: see 'export').",
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


@profiles_group.command("export")
@click.option("--as-service", "key_id", required=True, help="API key id the export runs as.")
@click.option("--purpose", required=True, help="Purpose of use (catalog id).")
@click.option("--field", "fields", multiple=True, required=True, help="Field (repeatable).")
@click.option("--tier", "tiers", multiple=True, help="Accept only these consent tiers.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most N subjects.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True),
    required=True,
    help="JSON Lines file to write (created with mode 0600; must not exist).",
)
def export(
    key_id: str,
    purpose: str,
    fields: tuple[str, ...],
    tiers: tuple[str, ...],
    limit: int | None,
    out: str,
) -> None:
    """Export a consented cohort through the guarded read, as the service KEY_ID.

    The service's purposes and brand apply as if it had called the API; the export is
    audited and its subjects recorded. A progress bar shows subjects considered.
    """
    import os

    from rich.progress import Progress

    from consent.ledger import CohortFilter
    from governance.auth.models import ApiKey
    from governance.profiles.guarded import export_cohort

    db = get_session()
    key = db.get(ApiKey, key_id)
    if key is None or key.revoked_at is not None:
        raise click.UsageError("No such API key, or it has been revoked.")
    actor = Actor(type="service", id=key.id, purposes=frozenset(key.purposes), brand=key.brand_id)
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.UsageError(f"{out} exists; choose a new file.") from None
    with os.fdopen(fd, "w", encoding="utf-8") as sink, Progress(transient=False) as bar:
        task = bar.add_task("subjects considered", total=None)

        def advance(considered: int, revealed: int) -> None:
            bar.advance(task, considered)

        try:
            started = export_cohort(
                db,
                actor,
                purpose,
                list(fields),
                where=CohortFilter(tiers=tiers or None),
                limit=limit,
                progress=advance,
            )
        except ApiError as exc:
            os.unlink(out)
            raise click.UsageError(exc.detail) from None
        bar.update(task, total=started.candidates)
        count = 0
        for line in started.lines:
            sink.write(line)
            count += 1
    click.echo(f"export {started.id}: {count} subjects written to {out}", err=True)
