"""The ``governance federated`` command group."""

from __future__ import annotations

from flask import Flask

from federated import cli


def test_init_app_registers_federated_demo() -> None:
    app = Flask(__name__)
    cli.init_app(app)
    result = app.test_cli_runner().invoke(args=["federated", "demo", "--help"])
    assert result.exit_code == 0, result.output
    assert "--mode [horizontal|vertical|both]" in result.output
    assert "--no-secagg" in result.output
