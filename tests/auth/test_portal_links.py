"""Portal links: signed, short-lived, single-use; a session for the customer after."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from flask import Flask


def _issue(service: Any, subject_id: str) -> str:
    resp = service.post("/api/v1/portal-links", json={"subject_id": subject_id})
    assert resp.status_code == 201, resp.get_json()
    url: str = resp.get_json()["url"]
    assert url.startswith("http://portal.example.com/portal/enter?token=")
    return parse_qs(urlparse(url).query)["token"][0]


def _redeem(client: Any, form_csrf: Any, token: str) -> Any:
    csrf = form_csrf(client, f"/portal/enter?token={token}")
    return client.post("/portal/enter", data={"token": token, "csrf_token": csrf})


@pytest.fixture
def service(as_service: Any) -> Any:
    return as_service(permissions=["portal-links:issue"])


def test_link_opens_a_portal_session_once(
    app: Flask, service: Any, subject_id: str, form_csrf: Any
) -> None:
    token = _issue(service, subject_id)
    client = app.test_client()
    opened = client.get(f"/portal/enter?token={token}")
    assert opened.status_code == 200  # showing the page does not use the link up
    resp = _redeem(client, form_csrf, token)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/portal/")
    assert client.get("/portal/").status_code == 200
    who = client.get("/api/v1/whoami").get_json()
    assert who["type"] == "subject" and who["id"] == subject_id

    again = _redeem(app.test_client(), form_csrf, token)
    assert again.status_code == 410


def test_expired_link_is_refused(
    app: Flask, service: Any, subject_id: str, form_csrf: Any, monkeypatch: Any
) -> None:
    token = _issue(service, subject_id)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 3600)
    resp = _redeem(app.test_client(), form_csrf, token)
    assert resp.status_code == 410


def test_tampered_link_is_refused(
    app: Flask, service: Any, subject_id: str, form_csrf: Any
) -> None:
    token = _issue(service, subject_id)
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    resp = _redeem(app.test_client(), form_csrf, tampered)
    assert resp.status_code == 401


def test_link_for_unknown_subject_is_404(service: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = service.post("/api/v1/portal-links", json={"subject_id": "sub_nobody"})
    assert resp.status_code == 404
    assert db_snapshot() == before


def test_portal_session_cannot_use_the_console_or_issue_links(
    app: Flask, service: Any, subject_id: str, form_csrf: Any
) -> None:
    client = app.test_client()
    _redeem(client, form_csrf, _issue(service, subject_id))
    assert client.get("/console/", headers={"Accept": "application/json"}).status_code == 403
    assert client.get("/api/v1/api-keys").status_code == 403


def test_operator_session_is_replaced_by_a_portal_session(
    app: Flask, as_dpo: Any, service: Any, subject_id: str, form_csrf: Any
) -> None:
    client = as_dpo.client
    _redeem(client, form_csrf, _issue(service, subject_id))
    who = client.get("/api/v1/whoami").get_json()
    assert who["type"] == "subject"  # exactly one actor: the operator session is gone
