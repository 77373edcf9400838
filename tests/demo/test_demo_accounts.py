"""Demo operators, the demo key, the credentials file, TOTP codes, production refusal."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from governance.auth import services
from governance.auth.models import ApiKey, Operator
from governance.demo.accounts import DEMO_OPERATORS, read_credentials
from governance.keys import Keyring


def creds_file(app: Flask) -> Path:
    return Path(app.instance_path) / "demo-credentials.txt"


def test_operators_are_created_with_secrets_in_a_private_file_only(
    app: Flask, demo: FlaskCliRunner, catalog: None, caplog: pytest.LogCaptureFixture
) -> None:
    from governance.db import get_session

    caplog.set_level(logging.DEBUG)
    result = demo.invoke(args=["demo", "operators"])
    assert result.exit_code == 0, result.output
    path = creds_file(app)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    creds = read_credentials(path)
    assert set(creds.operators) == set(DEMO_OPERATORS)
    assert creds.api_key_token is not None and creds.api_key_token.startswith("gk_")
    secrets = [c.password for c in creds.operators.values()]
    secrets += [c.totp_secret for c in creds.operators.values()] + [creds.api_key_token]
    assert len(set(secrets)) == len(secrets)  # every password and secret is fresh
    for secret in secrets:
        assert secret in result.output  # shown once, to whoever created them
        assert secret not in caplog.text  # and never logged

    keyring = Keyring.from_file(app.config["KEY_PATHS"].kek)
    with app.app_context():
        db = get_session()
        for username, role in DEMO_OPERATORS.items():
            cred = creds.operators[username]
            operator = services.verify_password(db, username, cred.password)
            assert operator is not None and operator.roles == [role.value]
            assert operator.totp_enabled_at is not None
            assert services.totp_secret(operator, keyring) == cred.totp_secret
        key = db.scalar(select(ApiKey).where(ApiKey.name == "demo-service"))
        assert key is not None and key.revoked_at is None
        assert len(key.purposes) == 7 and "cross_border_transfer" in key.purposes


def test_operators_again_creates_nothing_and_shows_no_secret(
    app: Flask, demo: FlaskCliRunner, catalog: None
) -> None:
    from governance.db import get_session

    assert demo.invoke(args=["demo", "operators"]).exit_code == 0
    before = creds_file(app).read_text()
    again = demo.invoke(args=["demo", "operators"])
    assert again.exit_code == 0 and "nothing created" in again.output
    assert "password" not in again.output
    assert creds_file(app).read_text() == before
    with app.app_context():
        db = get_session()
        assert db.scalar(select(func.count()).select_from(Operator)) == len(DEMO_OPERATORS)
        assert db.scalar(select(func.count()).select_from(ApiKey)) == 1


def test_reset_gives_new_secrets_and_revokes_the_old_key(
    app: Flask, demo: FlaskCliRunner, catalog: None
) -> None:
    from governance.db import get_session

    assert demo.invoke(args=["demo", "operators"]).exit_code == 0
    old = read_credentials(creds_file(app))
    assert demo.invoke(args=["demo", "operators", "--reset"]).exit_code == 0
    new = read_credentials(creds_file(app))
    assert new.operators["demo-dpo"].password != old.operators["demo-dpo"].password
    assert new.api_key_token != old.api_key_token
    with app.app_context():
        db = get_session()
        assert services.verify_password(db, "demo-dpo", old.operators["demo-dpo"].password) is None
        assert services.verify_password(db, "demo-dpo", new.operators["demo-dpo"].password)
        live = db.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
        assert [k.id for k in live] == [new.api_key_token.split(".")[0]]


def test_totp_prints_a_code_the_console_accepts(
    app: Flask, demo: FlaskCliRunner, catalog: None
) -> None:
    from governance.db import get_session

    assert demo.invoke(args=["demo", "operators"]).exit_code == 0
    result = demo.invoke(args=["demo", "totp", "demo-cs"])
    assert result.exit_code == 0, result.output
    code = result.output.strip()
    assert len(code) == 6 and code.isdigit()
    secret = read_credentials(creds_file(app)).operators["demo-cs"].totp_secret
    assert pyotp.TOTP(secret).verify(code, valid_window=1)
    with app.app_context():
        db = get_session()
        operator = db.scalar(select(Operator).where(Operator.username == "demo-cs"))
        assert operator is not None
        assert services.verify_totp(operator, code, Keyring.from_file(app.config["KEY_PATHS"].kek))


def test_totp_is_only_for_demo_operators(
    demo: FlaskCliRunner, make_operator: Any, catalog: None
) -> None:
    make_operator("dpo", username="real-dpo")
    result = demo.invoke(args=["demo", "totp", "real-dpo"])
    assert result.exit_code == 1 and "only demo operators" in result.output
    missing = demo.invoke(args=["demo", "totp", "demo-dpo"])
    assert missing.exit_code == 1 and "demo operators" in missing.output


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "operators"],
        ["demo", "totp", "demo-dpo"],
        ["demo", "seed", "--subjects", "2"],
        ["demo", "links"],
        ["demo", "bootstrap"],
    ],
)
def test_demo_commands_are_refused_in_production(
    app: Flask, demo: FlaskCliRunner, catalog: None, db_snapshot: Any, args: list[str]
) -> None:
    before = db_snapshot()
    app.config["ENV"] = "production"
    result = demo.invoke(args=args)
    assert result.exit_code == 1
    assert "refused in production" in result.output
    assert db_snapshot() == before
    assert not creds_file(app).exists()
