"""The profile API over HTTP: permissions, the guarded read, writes with the PII guard, exports."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from audit.models import AuditEntry
from consent import ledger
from governance.db import get_session
from governance.profiles.models import ProfileValue, Subject
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE

READ = ["profile:read"]
WRITE = ["profile:write"]
VALUES = {"mobile": "10020000031", "city": "杭州", "coupon_use": 2, "nickname": "小雨"}


def _grant(app: Flask, subject: str, purpose: str = "marketing_push") -> None:
    with app.app_context():
        session = get_session()
        ledger.record(
            session,
            ledger.Change(
                subject=subject,
                purposes=(purpose,),
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


@pytest.fixture
def created(app: Flask, catalog: Any, as_service: Any) -> str:
    writer = as_service(permissions=WRITE)
    resp = writer.post("/api/v1/profiles", json={"values": VALUES})
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["written"] == sorted(VALUES) and body["masked"] == []
    subject: str = body["subject"]
    _grant(app, subject)
    return subject


def _audit(app: Flask, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(get_session().scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_a_service_reads_what_the_policy_allows(app: Flask, created: str, as_service: Any) -> None:
    reader = as_service(["marketing_push"], READ)
    resp = reader.post(
        f"/api/v1/profiles/{created}/read",
        json={"purpose": "marketing_push", "fields": ["city", "coupon_use", "nickname"]},
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["fields"]["city"] == {
        "allow": True,
        "reasons": [],
        "obligations": [],
        "stored": True,
        "value": "杭州",
    }
    assert body["fields"]["coupon_use"]["value"] == 2
    assert isinstance(body["audit_seq"], int) and len(body["bundle_hash"]) == 64


def test_a_denied_field_carries_reasons_and_no_value(
    app: Flask, created: str, as_service: Any
) -> None:
    reader = as_service(["analytics"], READ)  # the subject never granted analytics
    resp = reader.post(
        f"/api/v1/profiles/{created}/read", json={"purpose": "analytics", "fields": ["city"]}
    )
    assert resp.status_code == 200
    field = resp.get_json()["fields"]["city"]
    assert field["allow"] is False and "value" not in field
    assert "consent_invalid" in field["reasons"]


def test_reading_needs_the_permission(app: Flask, created: str, as_service: Any) -> None:
    resp = as_service(["marketing_push"], ["catalog:read"]).post(
        f"/api/v1/profiles/{created}/read",
        json={"purpose": "marketing_push", "fields": ["city"]},
    )
    assert resp.status_code == 403
    assert _audit(app, "profile.read") == []


def test_an_operator_reads_with_csrf_and_sees_masks(
    app: Flask, created: str, as_operator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.profiles import guarded

    # 18:00 in Shanghai: inside customer service's hours whatever the clock says.
    at = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    monkeypatch.setattr(guarded, "utcnow", lambda: at)
    agent = as_operator("customer_service")
    without = agent.client.post(
        f"/api/v1/profiles/{created}/read",
        json={"purpose": "customer_service", "fields": ["mobile"]},
    )
    assert without.status_code == 403 and "csrf" in without.get_json()["type"]
    resp = agent.post(
        f"/api/v1/profiles/{created}/read",
        json={"purpose": "customer_service", "fields": ["mobile", "nickname"]},
    )
    assert resp.status_code == 200, resp.get_json()
    fields = resp.get_json()["fields"]
    assert fields["nickname"]["value"] == "小雨"
    # A fresh second factor (the fixture signs in with one): revealed, masked.
    assert fields["mobile"]["value"] == "100****0031"
    assert fields["mobile"]["obligations"] == ["mask"]


def test_unknown_fields_are_refused_with_422_and_nothing_is_written(
    app: Flask, catalog: Any, as_service: Any
) -> None:
    writer = as_service(permissions=WRITE)
    resp = writer.post("/api/v1/profiles", json={"values": {"city": "杭州", "shoe_size": 42}})
    assert resp.status_code == 422
    assert "shoe_size" in resp.get_json()["errors"]
    with app.app_context():
        assert get_session().scalar(select(func.count()).select_from(Subject)) == 0


def test_free_text_with_pii_is_refused_or_masked_per_catalog(
    app: Flask, created: str, as_service: Any
) -> None:
    from consent.catalog.models import CatalogField

    with app.app_context():
        session = get_session()
        field = session.get(CatalogField, "chat_excerpt")
        assert field is not None
        field.pii_on_write = "reject"
        session.commit()
    writer = as_service(permissions=WRITE)
    text = "顾客 请打13812345678找我"  # an invented number in the mobile format
    refused = writer.open(
        "PATCH", f"/api/v1/profiles/{created}", json={"values": {"chat_excerpt": text}}
    )
    assert refused.status_code == 422
    body = refused.get_data(as_text=True)
    assert "13812345678" not in body and "CN_MOBILE at 5-16" in body
    with app.app_context():
        assert get_session().get(ProfileValue, (created, "chat_excerpt")) is None

    masked = writer.open(
        "PATCH",
        f"/api/v1/profiles/{created}",
        json={"values": {"service_notes": "回访电话 13812345678 邮箱 li.lei@example.com"}},
    )
    assert masked.status_code == 200, masked.get_json()
    assert masked.get_json()["masked"] == ["service_notes"]


def test_updates_and_reads_of_another_brands_subject_are_404(
    app: Flask, created: str, as_service: Any
) -> None:
    from governance.brands import create_brand

    with app.app_context():
        session = get_session()
        create_brand(session, "brand-b", "Brand B (fictional)")
        session.commit()
    other = as_service(["marketing_push"], READ + WRITE, brand="brand-b")
    assert (
        other.open(
            "PATCH", f"/api/v1/profiles/{created}", json={"values": {"city": "上海"}}
        ).status_code
        == 404
    )
    assert (
        other.post(
            f"/api/v1/profiles/{created}/read",
            json={"purpose": "marketing_push", "fields": ["city"]},
        ).status_code
        == 404
    )
    found = other.post(
        "/api/v1/profiles/lookup", json={"field": "mobile", "value": VALUES["mobile"]}
    )
    assert found.status_code == 200 and found.get_json() == {"subjects": []}


def test_lookup_by_phone_finds_the_subject_and_audits_no_value(
    app: Flask, created: str, as_service: Any
) -> None:
    reader = as_service(["marketing_push"], READ)
    resp = reader.post(
        "/api/v1/profiles/lookup", json={"field": "mobile", "value": "+86 100-2000-0031"}
    )
    assert resp.status_code == 200 and resp.get_json() == {"subjects": [created]}
    (entry,) = _audit(app, "profile.lookup")
    assert json.loads(entry.details) == {"found": 1}
    assert "0031" not in entry.details + (entry.resource or "")


def test_an_export_streams_json_lines(app: Flask, created: str, as_service: Any) -> None:
    exporter = as_service(["marketing_push"], ["profile:export"])
    resp = exporter.post(
        "/api/v1/profiles/exports",
        json={"purpose": "marketing_push", "fields": ["city", "nickname"]},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in resp.get_data(as_text=True).splitlines()]
    assert lines == [{"subject": created, "values": {"city": "杭州", "nickname": "小雨"}}]
    assert resp.headers["X-Export-Id"].startswith("exp_")
    assert resp.headers["X-Export-Candidates"] == "1"
    assert (
        as_service(["marketing_push"], READ)
        .post("/api/v1/profiles/exports", json={"purpose": "marketing_push", "fields": ["city"]})
        .status_code
        == 403
    )
