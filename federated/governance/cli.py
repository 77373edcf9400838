"""``governance federated run`` and ``runs``: governed runs from the terminal."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from federated.cli import federated_group
from federated.governance.models import FederatedRun
from governance.db import get_session
from governance.errors import ApiError


@federated_group.command("run")
@click.option("--agreement", "agreement_id", required=True, help="The agreement (agr_...).")
@click.option(
    "--partner-rows",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The partner's rows (JSON Lines or CSV); its SuperNode filters them by the manifest.",
)
@click.option(
    "--partner-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The public key (PEM) of the SuperNode that joins for the partner.",
)
@click.option("--rounds", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option("--no-secagg", is_flag=True, help="Only if the agreement allows it.")
@click.option("--no-dp", is_flag=True, help="Only if the agreement allows it.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep cohort files, logs and the result here (default: a temporary folder).",
)
@with_appcontext
def run_command(
    agreement_id: str,
    partner_rows: Path,
    partner_key: Path,
    rounds: int,
    no_secagg: bool,
    no_dp: bool,
    workdir: Path | None,
) -> None:
    """Run a governed federation on loopback under AGREEMENT and register its model."""
    from federated.governance.runs import run_governed

    def show(metrics: dict[str, object]) -> None:
        click.echo(
            f"round {metrics.get('round')}: auc {metrics.get('auc')} loss {metrics.get('loss')}"
        )

    with tempfile.TemporaryDirectory(prefix="governed-run-") as tmp:
        try:
            run = run_governed(
                get_session(),
                agreement_id,
                partner_rows=partner_rows,
                partner_key_pem=partner_key.read_text(encoding="utf-8"),
                workdir=workdir or Path(tmp),
                rounds=rounds,
                secagg=False if no_secagg else None,
                dp=False if no_dp else None,
                on_round=show,
            )
        except ApiError as exc:
            raise click.ClickException(exc.detail) from None
    click.echo(f"run {run.id}: {run.status}; model {run.model_sha256}; cohorts {run.cohort_sizes}")


@federated_group.command("runs")
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@with_appcontext
def runs_command(limit: int) -> None:
    """List the latest runs (refused ones with their reasons) and their models."""
    rows = get_session().scalars(
        select(FederatedRun).order_by(FederatedRun.started_at.desc()).limit(limit)
    )
    for run in rows:
        detail = ", ".join(run.reasons) if run.status == "refused" else run.model_sha256 or "-"
        click.echo(f"{run.id}  {run.agreement_id}  {run.mode}  {run.status}  {detail}")
