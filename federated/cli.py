"""``governance federated ...``: the federated commands, registered by :func:`init_app`.

``governance federated demo`` (and ``python -m federated.demo``) runs
:func:`federated.demo.run_demo`. Flower is imported only when a command runs, so the
platform's CLI does not load it. The governance layer adds its own commands (agreements,
runs) to :data:`federated_group`.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import click
from flask import Flask

__all__ = ["demo_command", "federated_group", "init_app"]


@click.group("federated")
def federated_group() -> None:
    """Federated modelling with partners (Flower)."""


@federated_group.command("demo")
@click.option(
    "--mode",
    type=click.Choice(["horizontal", "vertical", "both"]),
    default="both",
    show_default=True,
    help="Horizontal (two brands), vertical (retailer and bank), or both.",
)
@click.option("--rounds", type=int, default=5, show_default=True, help="Federated rounds.")
@click.option(
    "--customers", type=int, default=4000, show_default=True, help="Synthetic population."
)
@click.option("--seed", type=int, default=7, show_default=True, help="Data seed.")
@click.option("--no-secagg", is_flag=True, help="Horizontal: switch SecAgg+ off.")
@click.option("--no-dp", is_flag=True, help="Horizontal: switch differential privacy off.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep data, keys, logs and results here (default: a temporary folder, removed).",
)
def demo_command(
    mode: str,
    rounds: int,
    customers: int,
    seed: int,
    no_secagg: bool,
    no_dp: bool,
    workdir: Path | None,
) -> None:
    """Run Flower on loopback with synthetic partners; compare with centralised training."""
    with warnings.catch_warnings():
        # typer (imported by flwr) uses click APIs that click 8.5 deprecates, at import.
        warnings.simplefilter("ignore", DeprecationWarning)
        from federated.demo import run_demo
        from federated.loopback import FederationError
        from federated.processes import Interrupted

    try:
        run_demo(
            mode=mode,
            rounds=rounds,
            customers=customers,
            seed=seed,
            secagg=not no_secagg,
            dp=not no_dp,
            workdir=workdir,
            say=click.echo,
        )
    except Interrupted as exc:
        click.echo(f"interrupted ({exc}); every process started was stopped", err=True)
        sys.exit(130)
    except FederationError as exc:
        raise click.ClickException(str(exc)) from None


def init_app(app: Flask) -> None:
    """Register ``governance federated`` on the app's CLI."""
    app.cli.add_command(federated_group)
