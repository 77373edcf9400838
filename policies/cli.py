"""``governance policy ...``: compile and test the policies, explain a decision.

``check`` compiles the policies and their data and runs every Rego test (exit 1 naming
the failures); ``explain`` reads a decision input (JSON, a file or ``-`` for stdin) and
prints the decision, field by field, with its reasons and obligations, for the DPO.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup

policy_group = AppGroup("policy", help="Rego policies: check, explain.")


@policy_group.command("check")
def check_command() -> None:
    """Compile the policies and run every Rego test (exit 1 if one fails)."""
    from policies.regotests import RegoTestRunner

    try:
        runner = RegoTestRunner()
    except Exception as exc:
        raise click.ClickException(f"the policies do not compile: {exc}") from None
    results = runner.run_all()
    failed = [r for r in results if not r.passed]
    for result in failed:
        click.echo(f"FAIL {result.name} ({result.file}): {result.detail}")
    click.echo(
        f"{len(results) - len(failed)} passed, {len(failed)} failed "
        f"(bundle {runner.source.bundle_hash[:16]})"
    )
    if failed or not results:
        sys.exit(1)


@policy_group.command("explain")
@click.argument("input_file", type=click.File("r"), default="-")
def explain_command(input_file: Any) -> None:
    """Print the decision for the input in INPUT_FILE (JSON; - for stdin)."""
    from policies import decide

    try:
        policy_input = json.load(input_file)
    except ValueError as exc:
        raise click.ClickException(f"the input is not JSON: {exc}") from None
    if not isinstance(policy_input, dict):
        raise click.ClickException("the input must be a JSON object")
    decision = decide(policy_input)
    for name, one in decision.fields.items():
        verdict = "allow" if one.allow else "deny "
        why = ", ".join(one.reasons) if one.reasons else "-"
        duties = ", ".join(json.dumps(o, sort_keys=True) for o in one.obligations) or "-"
        click.echo(f"{verdict} {name:<24} reasons: {why}; obligations: {duties}")
    if decision.flags:
        click.echo(f"flags: {', '.join(decision.flags)}")
    click.echo(f"bundle {decision.bundle_hash}")
    if decision.error:
        sys.exit(2)


def init_app(app: Flask) -> None:
    """Register the ``policy`` command group."""
    app.cli.add_command(policy_group)
