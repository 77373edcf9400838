"""PII never reaches a log line, an audit row or an error body.

Distinctive fictional values are written, refused, looked up, read, exported and erased
through the API; then every log line written meanwhile, every column of every audit
entry, every webhook payload queued and every error body answered are searched for them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEntry
from consent import ledger
from consent.webhooks.models import OutboxMessage
from governance.auth.actors import Actor
from governance.db import get_session
from governance.logs import JsonFormatter
from governance.profiles.erasure import erase_subject
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE

MOBILE = "13912340077"  # invented, in the mainland mobile format the detector knows
SECRETS = {
    "mobile": MOBILE,
    "email": "mei.canary77@example.com",
    "nickname": "金丝雀小雨",
    "city": "Canaryville",
    "wecom_unionid": "oCanaryUnion77Fictional",
}
ALL = [*SECRETS.values(), "mei.canary77", "13912340077"[3:]]


def _grant(app: Flask, subject: str) -> None:
    with app.app_context():
        session = get_session()
        ledger.record(
            session,
            ledger.Change(
                subject=subject,
                purposes=("marketing_push",),
                kind="grant",
                channel="portal",
                acted_by="subject",
                actor_id=subject,
                tier="behaviour",
                notice_version=CURRENT_NOTICE,
                evidence_sha256=EVIDENCE,
            ),
            now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        )
        session.commit()


def test_seeded_pii_appears_in_no_log_audit_row_webhook_or_error_body(
    app: Flask, catalog: Any, as_service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from consent.catalog.models import CatalogField
    from consent.webhooks.services import create_subscription
    from governance.keys import Keyring

    caplog.set_level(logging.DEBUG)
    with app.app_context():
        session = get_session()
        field = session.get(CatalogField, "chat_excerpt")
        assert field is not None
        field.pii_on_write = "reject"
        create_subscription(
            session,
            name="crm (fictional)",
            url="https://crm.example.com/hooks/consent",
            purposes=["marketing_push"],
            keyring=Keyring.from_file(app.config["KEY_PATHS"].kek),
            production=False,
        )
        session.commit()
    service = as_service(
        ["marketing_push"], ["profile:read", "profile:write", "profile:export", "policy:check"]
    )
    errors: list[str] = []

    def call(method: str, path: str, body: dict[str, Any], expect: int) -> Any:
        resp = service.open(method, path, json=body)
        assert resp.status_code == expect, resp.get_data(as_text=True)
        if resp.status_code >= 400:
            errors.append(resp.get_data(as_text=True))
        return resp

    created = call("POST", "/api/v1/profiles", {"values": SECRETS}, 201).get_json()["subject"]
    _grant(app, created)
    # Refusals, each echoing nothing it was sent.
    call("POST", "/api/v1/profiles", {"values": {**SECRETS, "shoe_size": MOBILE}}, 422)
    call("POST", "/api/v1/profiles", {"values": {"coupon_use": MOBILE}}, 422)
    call("PATCH", f"/api/v1/profiles/{created}", {"values": {"birth_year": SECRETS["city"]}}, 422)
    call(
        "PATCH",
        f"/api/v1/profiles/{created}",
        {"values": {"chat_excerpt": f"call me on {MOBILE} or {SECRETS['email']}"}},
        422,
    )
    call("POST", "/api/v1/profiles/lookup", {"field": "city", "value": SECRETS["city"]}, 422)
    call("POST", "/api/v1/profiles/lookup", {"field": "mobile", "value": MOBILE}, 200)
    call("POST", "/api/v1/profiles/lookup", {"field": "email", "value": SECRETS["email"]}, 200)
    # Free text masked on write (the catalog says mask for service notes).
    masked = call(
        "PATCH",
        f"/api/v1/profiles/{created}",
        {"values": {"service_notes": f"回访电话 {MOBILE}"}},
        200,
    )
    assert masked.get_json()["masked"] == ["service_notes"]
    # The guarded read, an export, a policy batch, and an erasure.
    read = call(
        "POST",
        f"/api/v1/profiles/{created}/read",
        {"purpose": "marketing_push", "fields": ["city", "nickname", "service_notes"]},
        200,
    )
    assert read.get_json()["fields"]["city"]["value"] == SECRETS["city"]
    call("POST", "/api/v1/profiles/exports", {"purpose": "marketing_push", "fields": ["city"]}, 200)
    call(
        "POST",
        "/api/v1/policy/decisions",
        {"questions": [{"subject": created, "purpose": "marketing_push", "fields": ["mobile"]}]},
        200,
    )
    with app.app_context():
        session = get_session()
        erase_subject(
            session,
            created,
            actor=Actor(type="operator", id="1"),
            evidence_sha256=hashlib.sha256(b"erasure request (fictional)").hexdigest(),
        )
        audit_rows = [
            json.dumps({c.name: str(getattr(e, c.name)) for c in AuditEntry.__table__.columns})
            for e in session.scalars(select(AuditEntry))
        ]
        payloads = [
            json.dumps(m.payload, ensure_ascii=False)
            for m in session.scalars(select(OutboxMessage))
        ]

    fmt = JsonFormatter()
    logs = [fmt.format(r) + repr(r.__dict__) for r in caplog.records]
    assert len(audit_rows) > 10 and len(errors) == 5 and logs and payloads
    places = {"log": logs, "audit": audit_rows, "webhook": payloads, "error": errors}
    found = [
        f"{where}: {value}"
        for where, texts in places.items()
        for text in texts
        for value in ALL
        if value in text or json.dumps(value)[1:-1] in text
    ]
    assert found == []


def test_the_search_would_find_a_value_that_leaked(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("governance.test").info("seeded", extra={"subject_note": "Canaryville"})
    text = "".join(JsonFormatter().format(r) + repr(r.__dict__) for r in caplog.records)
    assert "Canaryville" in text  # not PII to the detector, so it stays: the search sees it
