"""The explanation (art. 48): purposes, legal bases, recipients and countries, retention."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask

from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE
from tests.requests.conftest import VALUES, filed


def _explain(me: Any, customer: str) -> dict[str, Any]:
    made = filed(me, customer, kind="explanation")
    resp = me.get(f"/api/v1/subjects/{customer}/requests/{made['id']}/explanation")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    doc: dict[str, Any] = json.loads(resp.get_data(as_text=True))
    return doc


def test_the_explanation_says_which_purposes_apply_on_what_basis_in_both_languages(
    me: Any, customer: str
) -> None:
    doc = _explain(me, customer)
    assert doc["format"] == "governance-subject-explanation/1"
    by_id = {p["purpose"]: p for p in doc["purposes"]}
    marketing = by_id["marketing_push"]
    assert marketing["processed"] is True and marketing["status"] == "granted"
    assert marketing["legal_basis"] == "consent"
    assert marketing["name"] == {"zh": "营销推送", "en": "Marketing messages"}
    assert marketing["explanation"]["zh"] and marketing["explanation"]["en"]
    assert marketing["legal_basis_text"]["zh"] and marketing["legal_basis_text"]["en"]
    # Granted at the behaviour tier: basic and behaviour categories, never payment ones.
    assert "contact" in marketing["field_categories"]
    assert "behaviour" in marketing["field_categories"]
    assert "transaction" not in marketing["field_categories"]
    # A contract purpose applies without consent.
    service = by_id["customer_service"]
    assert service["processed"] is True and service["reason"] == "legal_basis"
    # Never granted: not processed, and no recipient listed for it.
    bank = by_id["joint_modelling_partner_bank"]
    assert bank["processed"] is False and bank["reason"] == "never_granted"
    assert bank["recipient"] == "Example Bank Co., Ltd." and bank["recipient_country"] == "CN"
    assert doc["recipients"] == []
    assert doc["summary"]["zh"] and doc["summary"]["en"]


def test_the_explanation_lists_recipients_and_countries_of_what_was_granted(
    me: Any, customer: str
) -> None:
    granted = me.post(
        f"/api/v1/consent/subjects/{customer}/decisions",
        json={
            "kind": "grant",
            "purposes": ["cross_border_transfer"],
            "tier": "basic",
            "notice_version": CURRENT_NOTICE,
            "channel": "portal",
            "evidence_sha256": EVIDENCE,
        },
    )
    assert granted.status_code == 201, granted.get_json()
    doc = _explain(me, customer)
    assert doc["recipients"] == [
        {
            "recipient": "Example Retail Singapore Pte. Ltd.",
            "country": "SG",
            "purposes": ["cross_border_transfer"],
        }
    ]


def test_retention_is_given_per_field_category(me: Any, customer: str) -> None:
    doc = _explain(me, customer)
    by_category = {c["category"]: c for c in doc["retention"]}
    assert by_category["location"]["retention_days"] == 30
    behaviour = by_category["behaviour"]
    assert behaviour["retention_days"] == 365
    assert {f["name"]: f["retention_days"] for f in behaviour["fields"]}["browse_history"] == 180
    labels = {f["name"]: f["label"] for f in by_category["contact"]["fields"]}
    assert labels["mobile"] == {"zh": "手机号", "en": "Mobile number"}


def test_a_restriction_is_explained_and_stops_every_purpose(me: Any, customer: str) -> None:
    filed(me, customer, kind="restriction")
    doc = _explain(me, customer)
    assert doc["restricted"] is True and doc["restriction"]["zh"]
    assert not any(p["processed"] for p in doc["purposes"])
    assert {p["reason"] for p in doc["purposes"] if p["purpose"] == "marketing_push"} == {
        "processing_restricted"
    }


def test_the_explanation_holds_no_profile_value(app: Flask, me: Any, customer: str) -> None:
    body = json.dumps(_explain(me, customer), ensure_ascii=False)
    for value in VALUES.values():
        if isinstance(value, str):
            assert value not in body, value
