"""``governance audit checkpoint | verify | head``.

``verify`` exits 0 when the whole log (or, with ``--since-checkpoint``, everything after
the newest checkpoint) matches, 1 naming the first entry or checkpoint that does not and
what is wrong with it, and shows a progress bar when standard error is a terminal.
``--json`` prints the report as one JSON object instead. Each run is itself recorded in
the log (``audit.verify``), so the DPO console can show the last result.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from audit import checkpoint as cpmod
from audit import get_signer, log_origin, public_keys
from audit.log import create_checkpoint, format_time, log_size, root_at
from audit.verifications import record_report
from audit.verify import Report, verify_database
from governance.db import get_engine, get_session, utcnow

audit_group = AppGroup("audit", help="The audit trail: checkpoints and verification.")


@audit_group.command("checkpoint")
def checkpoint_command() -> None:
    """Sign a checkpoint over the current log (no new one if nothing was appended)."""
    session = get_session()
    info, created = create_checkpoint(session, get_signer())
    session.commit()
    state = "signed" if created else "unchanged since"
    click.echo(
        f"checkpoint {info.id} {state}: tree size {info.tree_size}, "
        f"root {cpmod.b64(info.root_hash)}, key {info.key_id}"
    )


@audit_group.command("head")
def head_command() -> None:
    """Print the current tree size and root hash (not signed)."""
    session = get_session()
    size = log_size(session)
    click.echo(f"tree size {size}, root {cpmod.b64(root_at(session, size))}")


def _load_public_key(path: Path) -> dict[str, Ed25519PublicKey]:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise click.BadParameter(f"{path} is not an Ed25519 public key", param_hint="--public-key")
    return {cpmod.key_id(key): key}


def _print_report(report: Report) -> None:
    if report.ok:
        scope = (
            f"entries {report.first_entry}..{report.last_entry}"
            if report.entries_checked
            else "no entries"
        )
        since = (
            f" after checkpoint {report.since_checkpoint}"
            if report.since_checkpoint is not None
            else ""
        )
        click.echo(
            f"audit log verified: {scope}{since} ({report.entries_checked} entries, "
            f"{report.checkpoints_checked} checkpoints) in {report.seconds:.2f} s; "
            f"tree size {report.tree_size}, root {report.root_hash}"
        )
        return
    failure = report.failure
    assert failure is not None
    click.echo(f"audit log verification FAILED ({failure.check}): {failure.message}", err=True)


@audit_group.command("verify")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--since-checkpoint",
    is_flag=True,
    help="Verify only entries after the newest checkpoint (whose signature and stored "
    "tree are checked first).",
)
@click.option(
    "--public-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify checkpoint signatures with this PEM public key (e.g. the published one) "
    "instead of the app's own key.",
)
@click.option("--no-record", is_flag=True, help="Do not record this run in the audit log.")
def verify_command(
    as_json: bool, since_checkpoint: bool, public_key: Path | None, no_record: bool
) -> None:
    """Recompute every leaf, the chain and the tree; check every checkpoint."""
    keys = _load_public_key(public_key) if public_key else public_keys()
    engine = get_engine()
    show_bar = not as_json and sys.stderr.isatty()
    progress = Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show_bar,
        transient=True,
    )
    with progress:
        task = progress.add_task("verify", total=None)
        started_at = format_time(utcnow())
        report = verify_database(
            engine,
            keys,
            origin=log_origin(current_app),
            since_checkpoint=since_checkpoint,
            progress=lambda n: progress.advance(task, n),
            total=lambda n: progress.update(task, total=n),
        )
    if not no_record:
        session = get_session()
        record_report(session, report, started_at)
        session.commit()
    if as_json:
        click.echo(json.dumps(report.to_json()))
    else:
        _print_report(report)
    if not report.ok:
        sys.exit(1)


def init_app(app: object) -> None:
    """Register the ``audit`` command group."""
    from flask import Flask

    assert isinstance(app, Flask)
    app.cli.add_command(audit_group)
