"""Portal security: CSRF on every form, no way to another customer's data, no PII in URLs."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from flask import Flask
from sqlalchemy import select

from consent.models import ConsentEvent, ConsentState
from governance.requests.models import SubjectRequest
from tests.web.conftest import csrf_of, parse
from tests.web.helpers import PROFILE, decide, new_customer, service_token

#: Every page of the portal a customer can open with GET (paths carry no ids).
PAGES = (
    "/portal/",
    "/portal/purposes/ours",
    "/portal/purposes/sharing",
    "/portal/purposes/service",
    "/portal/notices",
    "/portal/notices/2026-01",
    "/portal/notices/2026-09",
    "/portal/activity",
    "/portal/rights",
    "/portal/rights/correction",
    "/portal/rights/erasure",
    "/portal/receipts",
)


def _read_as_service(client: Any, token: str, subject: str, purpose: str, fields: list[str]) -> int:
    resp = client.post(
        f"/api/v1/profiles/{subject}/read",
        json={"purpose": purpose, "fields": fields},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    seq: int = resp.get_json()["audit_seq"]
    return seq


@pytest.fixture
def busy_customer(app: Flask, within: Any, customer: str, portal_client: Any) -> dict[str, Any]:
    """A customer with grants, a read by a service, receipts and an access request."""
    within(lambda db: decide(db, customer, "marketing_push"))
    within(lambda db: decide(db, customer, "personalised_recommendation", tier="behaviour"))
    token = within(
        lambda db: service_token(db, "recommendation-engine", ["personalised_recommendation"])
    )
    seq = _read_as_service(
        app.test_client(), token, customer, "personalised_recommendation", ["nickname", "city"]
    )
    client = portal_client(customer)
    page = client.get("/portal/rights").get_data(as_text=True)
    assert (
        client.post("/portal/rights/access", data={"csrf_token": csrf_of(page)}).status_code == 303
    )
    request_id = within(
        lambda db: db.scalar(select(SubjectRequest.id).where(SubjectRequest.subject_id == customer))
    )
    receipt = within(
        lambda db: db.scalar(
            select(ConsentEvent.receipt_id).where(
                ConsentEvent.subject_id == customer, ConsentEvent.receipt_id.is_not(None)
            )
        )
    )
    return {"id": customer, "seq": seq, "request": request_id, "receipt": receipt}


def _post_forms(client: Any) -> list[dict[str, Any]]:
    """Every POST form on every portal page (and the verify page), de-duplicated by action."""
    forms: dict[str, dict[str, Any]] = {}
    pages = [client.get(path).get_data(as_text=True) for path in PAGES]
    for page in pages:
        for form in parse(page).forms:
            if form["method"] == "post":
                forms.setdefault(form["action"], form)
    verify = next(a for a in forms if a.endswith("/verify"))
    page = client.post(verify, data={"csrf_token": csrf_of(pages[0])}).get_data(as_text=True)
    for form in parse(page).forms:
        if form["method"] == "post":
            forms.setdefault(form["action"], form)
    return list(forms.values())


def test_every_portal_form_carries_a_csrf_token_and_refuses_a_missing_one(
    busy_customer: dict[str, Any], portal_client: Any, db_snapshot: Any
) -> None:
    client = portal_client(busy_customer["id"])
    forms = _post_forms(client)
    actions = {f["action"] for f in forms}
    # Every kind of form the portal has is here: decisions, verify, rights, language, exit.
    assert {
        "/portal/decisions",
        "/portal/rights/access",
        "/portal/rights/restriction",
        "/lang",
        "/portal/logout",
    } <= actions
    assert any(a.endswith("/verify") for a in actions)
    correction = client.get("/portal/rights/correction").get_data(as_text=True)
    erasure = client.get("/portal/rights/erasure").get_data(as_text=True)
    actions |= {f["action"] for f in parse(correction).forms + parse(erasure).forms}
    assert {"/portal/rights/correction", "/portal/rights/erasure"} <= actions
    for form in forms + parse(correction).forms + parse(erasure).forms:
        assert form["fields"].get("csrf_token"), f"{form['action']} has no CSRF token"

    before = db_snapshot()
    for form in forms + parse(correction).forms + parse(erasure).forms:
        data = {k: v for k, v in form["fields"].items() if k != "csrf_token" and v is not None}
        data.setdefault("tier", "behaviour")
        data.setdefault("confirm", "yes")
        data.setdefault("value-nickname", "新昵称")
        for token in (None, "forged-token"):
            sent = data if token is None else {**data, "csrf_token": token}
            resp = client.post(form["action"], data=sent)
            assert resp.status_code == 403, (form["action"], resp.status_code)
    assert db_snapshot() == before
    # The same form with the page's own token goes through (the 403s were the tokens).
    token = csrf_of(client.get("/portal/purposes/ours").get_data(as_text=True))
    resp = client.post(
        "/portal/decisions",
        data={"csrf_token": token, "purpose": "analytics", "kind": "refuse"},
    )
    assert resp.status_code == 303
    assert db_snapshot() != before


def test_a_customer_cannot_reach_another_customers_data_by_changing_ids(
    within: Any, busy_customer: dict[str, Any], portal_client: Any
) -> None:
    other = busy_customer
    me = within(
        lambda db: new_customer(
            db, nickname="周一鸣", mobile="13800000042", email="zhou@example.com"
        )
    )
    client = portal_client(me)
    page = client.get("/portal/").get_data(as_text=True)
    token = csrf_of(page)

    # Their log record, their receipt, their request, their history: as if none existed.
    assert (
        client.post(
            f"/portal/activity/{other['seq']}/verify", data={"csrf_token": token}
        ).status_code
        == 404
    )
    assert client.get(f"/api/v1/audit/entries/{other['seq']}").status_code == 404
    assert client.get(f"/api/v1/audit/entries/{other['seq']}/proof").status_code == 404
    assert client.get(f"/api/v1/consent/receipts/{other['receipt']}").status_code == 404
    for path in (
        f"/api/v1/subjects/{other['id']}/requests/{other['request']}/export",
        f"/api/v1/subjects/{me}/requests/{other['request']}/export",
        f"/api/v1/subjects/{me}/requests/{other['request']}",
    ):
        assert client.get(path).status_code == 404, path
    assert client.get(f"/api/v1/consent/subjects/{other['id']}/history").status_code in {403, 404}
    assert client.get(f"/api/v1/audit/entries?subject={other['id']}").status_code == 403

    # Paging cursors cannot reach their entries either: my pages show only mine.
    for path in (
        "/portal/activity",
        f"/portal/activity?before={other['seq'] + 1}",
        "/portal/receipts",
    ):
        body = client.get(path).get_data(as_text=True)
        assert other["id"] not in body and f"#{other['seq']}<" not in body
        assert other["receipt"] not in body
    assert "recommendation-engine" not in client.get("/portal/activity").get_data(as_text=True)

    # A decision form with their id slipped in decides for me only.
    resp = client.post(
        "/portal/decisions",
        data={
            "csrf_token": token,
            "purpose": "marketing_push",
            "kind": "refuse",
            "subject": other["id"],
        },
    )
    assert resp.status_code == 303
    states = within(
        lambda db: {
            (s.subject_id, s.purpose): s.status
            for s in db.scalars(
                select(ConsentState).where(ConsentState.purpose == "marketing_push")
            )
        }
    )
    assert states[(other["id"], "marketing_push")] == "granted"
    assert states[(me, "marketing_push")] == "refused"


def _pii_needles() -> list[str]:
    values = [str(v) for v in PROFILE.values() if not isinstance(v, list | int)]
    values += [str(v) for v in PROFILE["browse_history"]]
    return [v for v in values if len(v) >= 4 or not v.isascii()]


def test_no_personal_information_in_any_link_or_form_action(
    busy_customer: dict[str, Any], portal_client: Any
) -> None:
    client = portal_client(busy_customer["id"])
    pages = [client.get(path) for path in PAGES]
    forms = _post_forms(client)
    verify = next(f["action"] for f in forms if f["action"].endswith("/verify"))
    pages.append(client.post(verify, data={"csrf_token": csrf_of(pages[0].get_data(as_text=True))}))
    # A correction's new values travel in the body; the answer points to a page without them.
    page = client.get("/portal/rights/correction").get_data(as_text=True)
    corrected = client.post(
        "/portal/rights/correction",
        data={"csrf_token": csrf_of(page), "value-nickname": "林小雨雨", "value-city": "苏州"},
    )
    assert corrected.status_code == 303 and "苏州" not in unquote(corrected.headers["Location"])

    needles = [*_pii_needles(), "林小雨雨", "苏州"]
    urls: list[str] = []
    for resp in pages:
        assert resp.status_code == 200
        found = parse(resp.get_data(as_text=True))
        urls += found.urls
    assert len(urls) > 50
    for url in urls:
        plain = unquote(url)
        for needle in needles:
            assert needle not in plain, f"{needle!r} in {url}"
        # The customer's id is in no portal URL; only the API's download link of their copy
        # (an opaque id, in the path the API has always had) names it.
        if busy_customer["id"] in plain:
            assert plain.startswith("/api/v1/subjects/") and plain.endswith("/export"), url
        assert "token=" not in plain
