"""Operator sign-in: password, then TOTP (enrolled at first sign-in), rate-limited."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import pytest
from flask import Flask

from governance.auth import signals

PASSWORD = "correct horse battery"
_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def _csrf(page: str) -> str:
    match = _CSRF_RE.search(page)
    assert match
    return match.group(1)


def _login(client: Any, username: str, password: str = PASSWORD) -> Any:
    token = _csrf(client.get("/console/login").get_data(as_text=True))
    return client.post(
        "/console/login", data={"username": username, "password": password, "csrf_token": token}
    )


def _enrol(client: Any) -> tuple[pyotp.TOTP, str]:
    """Enrol TOTP; returns the generator and the exact code the enrolment used."""
    page = client.get("/console/totp/enrol").get_data(as_text=True)
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page)
    assert secret
    totp = pyotp.TOTP(secret.group(1))
    code = totp.now()
    resp = client.post("/console/totp/enrol", data={"code": code, "csrf_token": _csrf(page)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/")
    return totp, code


def form_csrf(client: Any, path: str) -> str:
    return _csrf(client.get(path).get_data(as_text=True))


def test_first_sign_in_enrols_totp_then_opens_console(app: Flask, make_operator: Any) -> None:
    make_operator("dpo", username="ana.dpo")
    client = app.test_client()
    resp = _login(client, "ana.dpo")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/totp/enrol")
    assert client.get("/console/").status_code == 401  # password alone is not a session
    _enrol(client)
    home = client.get("/console/", headers={"Accept-Language": "en"})
    assert home.status_code == 200
    assert "Signed in as ana.dpo" in home.get_data(as_text=True)
    who = client.get("/api/v1/whoami").get_json()
    assert who["type"] == "operator" and who["roles"] == ["dpo"]


def test_second_sign_in_needs_a_fresh_totp_code(app: Flask, make_operator: Any) -> None:
    make_operator("analyst", username="bo.analyst")
    client = app.test_client()
    _login(client, "bo.analyst")
    _, used_code = _enrol(client)
    client.post("/console/logout", data={"csrf_token": form_csrf(client, "/console/")})
    assert client.get("/console/").status_code == 401

    resp = _login(client, "bo.analyst")
    assert resp.headers["Location"].endswith("/console/login/totp")
    token = form_csrf(client, "/console/login/totp")
    replay = client.post("/console/login/totp", data={"code": used_code, "csrf_token": token})
    # The code used at enrolment cannot be replayed. (Replaying the exact code, not
    # totp.now(): across a 30-second boundary now() is a new, legitimately valid code.)
    assert replay.status_code == 401
    wrong = client.post("/console/login/totp", data={"code": "000000", "csrf_token": token})
    assert wrong.status_code == 401
    assert client.get("/console/").status_code == 401


def test_wrong_password_is_refused_and_signalled_without_the_username(
    app: Flask, make_operator: Any
) -> None:
    make_operator("dpo", username="cy.dpo")
    seen: list[dict[str, Any]] = []

    def receiver(_sender: Any, **kwargs: Any) -> None:
        seen.append(kwargs)

    with signals.login_failed.connected_to(receiver):
        resp = _login(app.test_client(), "cy.dpo", "wrong password here")
        unknown = _login(app.test_client(), "nobody.at.all", "wrong password here")
    assert resp.status_code == 401 and unknown.status_code == 401
    assert [s["reason"] for s in seen] == ["wrong-password", "unknown-or-disabled"]
    assert all("cy.dpo" not in repr(s) and "nobody.at.all" not in repr(s) for s in seen)


def test_disabled_operator_cannot_sign_in_and_loses_session(
    app: Flask, as_operator: Any, runner: Any
) -> None:
    dpo = as_operator("dpo")
    assert dpo.get("/api/v1/whoami").status_code == 200
    op_id = dpo.get("/api/v1/whoami").get_json()["id"]
    from governance.auth.models import Operator
    from governance.db import get_session

    with app.app_context():
        name = get_session().get(Operator, int(op_id)).username
    result = runner.invoke(args=["operator", "disable", name])
    assert result.exit_code == 0, result.output
    assert dpo.get("/api/v1/whoami").status_code == 401


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "LOGIN_RATE_LIMIT": "3 per minute"}


def test_login_is_rate_limited_per_username(app: Flask, make_operator: Any) -> None:
    make_operator("dpo", username="dee.dpo")
    statuses = []
    for _ in range(4):
        statuses.append(_login(app.test_client(), "dee.dpo", "wrong password here").status_code)
    assert statuses == [401, 401, 401, 429]
    limited = _login(app.test_client(), "dee.dpo", "wrong password here")
    assert int(limited.headers["Retry-After"]) > 0


def test_step_up_refreshes_the_second_factor(app: Flask, make_operator: Any) -> None:
    make_operator("dpo", username="eve.dpo")
    client = app.test_client()
    _login(client, "eve.dpo")
    totp, _ = _enrol(client)
    with client.session_transaction() as sess:
        sess["mfa_at"] = 0  # long ago
    from governance.auth.models import Operator
    from governance.db import get_session

    with app.app_context():
        db = get_session()
        op = db.query(Operator).filter_by(username="eve.dpo").one()
        op.last_totp_step = None  # allow the current step again for this test
        db.commit()
    token = form_csrf(client, "/console/step-up")
    resp = client.post("/console/step-up", data={"code": totp.now(), "csrf_token": token})
    assert resp.status_code == 302
    with client.session_transaction() as sess:
        assert sess["mfa_at"] > 0
