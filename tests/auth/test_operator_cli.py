"""``governance operator``: create (password from stdin), refusals that write nothing, reset."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from governance.auth.models import Operator
from governance.db import get_session


def _create(runner: Any, *args: str, password: str = "a long fictional passphrase") -> Any:
    return runner.invoke(
        args=["operator", "create", *args, "--password-stdin"], input=password + "\n"
    )


def test_create_operator_reads_the_password_from_stdin(app: Flask, runner: Any) -> None:
    result = _create(runner, "gus.dpo", "--role", "dpo", "--role", "analyst")
    assert result.exit_code == 0, result.output
    assert "a long fictional passphrase" not in result.output
    with app.app_context():
        op = get_session().scalar(select(Operator).where(Operator.username == "gus.dpo"))
        assert op is not None and op.roles == ["analyst", "dpo"]
        assert op.totp_enabled_at is None  # enrolled at first sign-in


def test_short_password_is_refused_and_nothing_written(runner: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    result = _create(runner, "hal.dpo", "--role", "dpo", password="short")
    assert result.exit_code != 0
    assert "at least 12 characters" in result.output
    assert db_snapshot() == before


def test_unknown_role_is_refused_and_nothing_written(runner: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    result = _create(runner, "ida.x", "--role", "superuser")
    assert result.exit_code == 2
    assert "superuser" in result.output
    assert db_snapshot() == before


def test_duplicate_username_is_refused(runner: Any, db_snapshot: Any) -> None:
    assert _create(runner, "jo.cs", "--role", "customer_service").exit_code == 0
    before = db_snapshot()
    result = _create(runner, "jo.cs", "--role", "dpo")
    assert result.exit_code != 0 and "already exists" in result.output
    assert db_snapshot() == before


def test_reset_totp_forgets_the_second_factor(app: Flask, runner: Any) -> None:
    assert _create(runner, "kai.dpo", "--role", "dpo").exit_code == 0
    with app.app_context():
        db = get_session()
        op = db.scalar(select(Operator).where(Operator.username == "kai.dpo"))
        assert op is not None
        op.totp_secret_wrapped = "kek-1:AAAA"
        op.last_totp_step = 7
        db.commit()
    assert runner.invoke(args=["operator", "reset-totp", "kai.dpo"]).exit_code == 0
    with app.app_context():
        op = get_session().scalar(select(Operator).where(Operator.username == "kai.dpo"))
        assert op is not None
        assert (op.totp_secret_wrapped, op.totp_enabled_at, op.last_totp_step) == (None, None, None)
    missing = runner.invoke(args=["operator", "reset-totp", "nobody"])
    assert missing.exit_code != 0 and "no operator named" in missing.output
