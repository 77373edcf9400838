"""No password, TOTP secret or code, API key or key material ever reaches a log line."""

from __future__ import annotations

import logging
import re
from typing import Any

import pyotp
import pytest
from flask import Flask

from governance.logs import JsonFormatter

PASSWORD = "Fictional-Passw0rd-for-tests"


def _all_log_text(records: list[logging.LogRecord]) -> str:
    fmt = JsonFormatter()
    return "\n".join(fmt.format(r) + repr(r.__dict__) for r in records)


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_login_and_key_creation_log_no_secret(
    app: Flask, make_operator: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    make_operator("admin", username="fay.admin", password=PASSWORD)
    client = app.test_client()

    # a failed attempt, then a full sign-in with TOTP enrolment
    client.post(
        "/console/login",
        data={
            "username": "fay.admin",
            "password": PASSWORD + "x",
            "csrf_token": _csrf(client.get("/console/login").get_data(as_text=True)),
        },
    )
    client.post(
        "/console/login",
        data={
            "username": "fay.admin",
            "password": PASSWORD,
            "csrf_token": _csrf(client.get("/console/login").get_data(as_text=True)),
        },
    )
    page = client.get("/console/totp/enrol").get_data(as_text=True)
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page)
    assert secret
    code = pyotp.TOTP(secret.group(1)).now()
    done = client.post("/console/totp/enrol", data={"code": code, "csrf_token": _csrf(page)})
    assert done.status_code == 302

    csrf = client.get("/api/v1/whoami").get_json()["csrf_token"]
    created = client.post(
        "/api/v1/api-keys", json={"name": "crm", "purposes": []}, headers={"X-CSRFToken": csrf}
    )
    token = created.get_json()["token"]
    client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}x"})

    keys = app.config["KEY_PATHS"]
    key_material = [keys.secret_key.read_text().strip(), keys.portal_link.read_text().strip()]
    text = _all_log_text(caplog.records)
    assert "request" in text  # the capture saw the requests
    for secret_value in [
        PASSWORD,
        secret.group(1),
        code,
        token,
        token.split(".")[1],
        csrf,
        *key_material,
    ]:
        assert secret_value not in text
    assert "fay.admin" not in text  # usernames stay out of logs too
