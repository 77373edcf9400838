"""Corrections (art. 46): the customer's own statements at once, the brand's records by the DPO."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import select

from audit.models import AuditEntry
from consent.catalog.models import CatalogField
from governance.db import get_session
from governance.profiles.models import ProfileValue
from tests.requests.conftest import entries, file, filed


def _values(me: Any, customer: str) -> dict[str, Any]:
    """The customer's values as their own copy shows them (the guarded read)."""
    made = filed(me, customer, kind="access")
    resp = me.get(f"/api/v1/subjects/{customer}/requests/{made['id']}/export")
    assert resp.status_code == 200
    values: dict[str, Any] = json.loads(resp.get_data(as_text=True))["values"]
    return values


def test_a_correction_of_what_the_customer_states_is_written_at_once(
    app: Flask, me: Any, customer: str
) -> None:
    made = filed(
        me,
        customer,
        kind="correction",
        reason="outdated",
        values={"city": "Dsr-新城-5M", "gender": "未说明"},
    )
    assert made["status"] == "completed"
    assert made["details"] == {
        "reason": "outdated",
        "applied": ["city", "gender"],
        "masked": [],
        "review": [],
    }
    assert made["result"] == {"code": "done", "fields": ["city", "gender"]}
    values = _values(me, customer)
    assert values["city"] == "Dsr-新城-5M" and values["gender"] == "未说明"
    writes = [e for e in entries(app, "profile.write") if e.subject_id == customer]
    assert len(writes) == 1
    assert json.loads(writes[0].details) == {
        "fields": ["city", "gender"],
        "masked": [],
        "request": made["id"],
    }
    assert (writes[0].actor_type, writes[0].actor_id) == ("subject", customer)


def test_fields_the_brand_keeps_are_named_for_the_dpo_not_set_by_the_customer(
    app: Flask, me: Any, customer: str, db_snapshot: Any
) -> None:
    before = db_snapshot()
    refused = file(me, customer, kind="correction", values={"coupon_use": 99})
    assert refused.status_code == 422
    assert "coupon_use" in refused.get_json()["errors"]
    assert db_snapshot() == before

    made = filed(
        me,
        customer,
        kind="correction",
        reason="inaccurate",
        values={"nickname": "Dsr-新名-4L"},
        fields=["coupon_use", "member_level"],
    )
    assert made["status"] == "open"
    assert made["details"]["applied"] == ["nickname"]
    assert made["details"]["review"] == ["coupon_use", "member_level"]
    assert _values(me, customer)["nickname"] == "Dsr-新名-4L"


def test_a_correction_naming_a_field_outside_the_catalog_is_refused(
    me: Any, customer: str, db_snapshot: Any
) -> None:
    before = db_snapshot()
    for body in (
        {"values": {"shoe_size": 42}},
        {"fields": ["shoe_size"]},
        {"values": {"city": 7}},  # wrong type
    ):
        resp = file(me, customer, kind="correction", **body)
        assert resp.status_code == 422, body
    assert db_snapshot() == before


def test_a_correction_with_pii_the_field_may_not_hold_is_refused_and_nothing_is_written(
    app: Flask, me: Any, customer: str, db_snapshot: Any
) -> None:
    # A free-text field the customer writes themselves (a self-description, say), which
    # refuses personal information it may not hold.
    with app.app_context():
        session = get_session()
        field = session.get(CatalogField, "chat_excerpt")
        assert field is not None
        field.category, field.pii_on_write = "profile", "reject"
        session.commit()
    before = db_snapshot()
    text = "请打 13812345678 找我"  # an invented number in the mobile format
    resp = file(me, customer, kind="correction", values={"chat_excerpt": text})
    assert resp.status_code == 422
    body = resp.get_data(as_text=True)
    assert "13812345678" not in body and "CN_MOBILE" in body
    assert "chat_excerpt" in resp.get_json()["errors"]
    assert db_snapshot() == before
    with app.app_context():
        assert get_session().get(ProfileValue, (customer, "chat_excerpt")) is None


def test_a_correction_that_masks_free_text_says_which_field_was_masked(
    app: Flask, me: Any, customer: str
) -> None:
    with app.app_context():
        session = get_session()
        field = session.get(CatalogField, "chat_excerpt")
        assert field is not None
        field.category = "profile"  # pii_on_write stays 'mask'
        session.commit()
    made = filed(
        me, customer, kind="correction", values={"chat_excerpt": "电话 13812345678 可联系"}
    )
    assert made["details"]["masked"] == ["chat_excerpt"]
    with app.app_context():
        details = [
            json.loads(d)
            for d in get_session().scalars(
                select(AuditEntry.details).where(AuditEntry.action == "profile.write")
            )
        ]
    assert details[-1]["masked"] == ["chat_excerpt"]


def test_a_correction_needs_values_or_fields(me: Any, customer: str) -> None:
    assert file(me, customer, kind="correction").status_code == 422
