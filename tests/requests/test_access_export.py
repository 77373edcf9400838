"""The customer's copy: values through the guarded read, consents, receipts, exports, proofs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from audit import merkle, public_keys
from audit.checkpoint import signature_valid, unb64
from audit.models import AuditEntry
from governance.db import get_session
from governance.profiles import guarded
from policies.inputs import SUBJECT_ACCESS_PURPOSE
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE
from tests.requests.conftest import VALUES, entries, filed


def _download(client: Any, subject: str, request_id: str, query: str = "") -> dict[str, Any]:
    resp = client.get(f"/api/v1/subjects/{subject}/requests/{request_id}/export{query}")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    assert "attachment" in resp.headers["Content-Disposition"]
    assert resp.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = json.loads(resp.get_data(as_text=True))
    return body


def _verify(app: Flask, doc: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Every entry's proof leads to the root the (validly signed) checkpoint names."""
    checkpoint = doc["checkpoint"]
    with app.app_context():
        key = public_keys()[checkpoint["key_id"]]
    assert signature_valid(checkpoint["note"].encode(), unb64(checkpoint["signature"]), key)
    root = unb64(checkpoint["root_hash"])
    size = checkpoint["tree_size"]
    for item in items:
        proof = [unb64(p) for p in item["proof"]]
        leaf = unb64(item["leaf_hash"])
        assert merkle.verify_inclusion(item["seq"], size, leaf, proof, root), item["seq"]
        assert not merkle.verify_inclusion(item["seq"], size, leaf, proof, bytes(32))


def test_the_copy_holds_every_value_read_through_the_guarded_read(
    app: Flask, me: Any, customer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = guarded._open
    monkeypatch.setattr(guarded, "_open", lambda *a, **k: opened.append("read") or real(*a, **k))
    made = filed(me, customer, kind="access")
    assert opened == []  # filing reveals nothing; the download does
    doc = _download(me, customer, made["id"])

    assert opened == ["read"]
    assert doc["format"] == "governance-subject-export/1" and doc["kind"] == "access"
    assert doc["subject"] == customer and doc["request"] == made["id"]
    fields = doc["profile"]["fields"]
    assert set(fields) == set(VALUES)
    for name in ("mobile", "email", "city", "nickname", "coupon_use"):
        assert fields[name]["allow"] is True and fields[name]["value"] == VALUES[name]
        assert doc["values"][name] == VALUES[name]
    assert fields["city"]["label"] == {"zh": "所在城市", "en": "City"}
    assert fields["city"]["category"] == "demographic" and fields["city"]["retention_days"]
    # The read is in the audit trail as the customer's own access, naming no value.
    reads = [e for e in entries(app, "profile.read") if e.subject_id == customer]
    assert len(reads) == 1
    assert reads[0].purpose == SUBJECT_ACCESS_PURPOSE
    assert (reads[0].actor_type, reads[0].actor_id) == ("subject", customer)
    assert reads[0].seq == doc["profile"]["audit_seq"]
    assert doc["profile"]["purpose"] == SUBJECT_ACCESS_PURPOSE


def test_every_audit_entry_about_the_customer_comes_with_a_proof_against_a_signed_checkpoint(
    app: Flask, me: Any, customer: str, other: str
) -> None:
    made = filed(me, customer, kind="access")
    doc = _download(me, customer, made["id"])
    audit_part = doc["audit"]
    items = audit_part["entries"]
    with app.app_context():
        expected = list(
            get_session().scalars(
                select(AuditEntry.seq)
                .where(AuditEntry.subject_id == customer)
                .order_by(AuditEntry.seq)
            )
        )
    # A checkpoint was signed over the read itself, so every entry about them is covered.
    assert [i["seq"] for i in items] == [s for s in expected if s < audit_part["tree_size"]]
    assert doc["profile"]["audit_seq"] in [i["seq"] for i in items]
    assert all(i["subject"] == customer for i in items)
    assert {"consent.grant", "subject_request.create", "profile.read"} <= {
        i["action"] for i in items
    }
    assert audit_part["next"] is None
    _verify(app, audit_part, items)


def test_audit_entries_come_in_pages_proved_against_the_same_checkpoint(
    app: Flask, me: Any, customer: str
) -> None:
    made = filed(me, customer, kind="portability")
    doc = _download(me, customer, made["id"], "?limit=2")
    first = doc["audit"]
    assert len(first["entries"]) == 2 and first["next"] is not None
    seen = [i["seq"] for i in first["entries"]]
    after = first["next"]
    while after is not None:
        resp = me.get(
            f"/api/v1/subjects/{customer}/requests/{made['id']}/export/audit"
            f"?tree_size={first['tree_size']}&after={after}&limit=2"
        )
        assert resp.status_code == 200, resp.get_json()
        page = resp.get_json()
        assert page["checkpoint"] == first["checkpoint"]
        _verify(app, page, page["entries"])
        seen += [i["seq"] for i in page["entries"]]
        after = page["next"]
    assert seen == sorted(seen) and len(seen) == len(set(seen)) >= 4
    bad = me.get(
        f"/api/v1/subjects/{customer}/requests/{made['id']}/export/audit"
        f"?tree_size={first['tree_size'] + 1000}&after=0"
    )
    assert bad.status_code == 422


def test_the_copy_holds_consent_states_history_receipts_and_the_exports_that_used_them(
    app: Flask, me: Any, customer: str, as_service: Any
) -> None:
    # A grant in the portal (it gets a signed receipt), then a cohort export that includes them.
    granted = me.post(
        f"/api/v1/consent/subjects/{customer}/decisions",
        json={
            "kind": "grant",
            "purposes": ["personalised_recommendation"],
            "tier": "behaviour",
            "notice_version": CURRENT_NOTICE,
            "channel": "portal",
            "evidence_sha256": EVIDENCE,
        },
    )
    assert granted.status_code == 201, granted.get_json()
    receipt = granted.get_json()["events"][0]["receipt_id"]
    marketer = as_service(["marketing_push"], ["profile:export"])
    exported = marketer.post(
        "/api/v1/profiles/exports", json={"purpose": "marketing_push", "fields": ["city"]}
    )
    assert exported.status_code == 200
    export_id = exported.headers["X-Export-Id"]

    made = filed(me, customer, kind="access")
    doc = _download(me, customer, made["id"])
    states = {s["purpose"]: s["status"] for s in doc["consent"]["states"]}
    assert states == {
        "marketing_push": "granted",
        "analytics": "granted",
        "personalised_recommendation": "granted",
    }
    assert [e["purpose"] for e in doc["consent"]["history"]] == [
        "marketing_push",
        "analytics",
        "personalised_recommendation",
    ]
    receipts = doc["consent"]["receipts"]
    assert [r["receipt_id"] for r in receipts] == [receipt]
    assert receipts[0]["jws"].count(".") == 2
    assert [e["export"] for e in doc["exports"]] == [export_id]
    assert doc["exports"][0]["purpose"] == "marketing_push"
    assert doc["exports"][0]["fields"] == ["city"]
    assert [r["id"] for r in doc["requests"]] == [made["id"]]


def test_a_restricted_customer_still_gets_their_copy(app: Flask, me: Any, customer: str) -> None:
    filed(me, customer, kind="restriction")
    made = filed(me, customer, kind="access")
    doc = _download(me, customer, made["id"])
    assert doc["values"]["city"] == VALUES["city"]
    assert doc["subject_record"]["restricted_at"] is not None


def test_free_text_is_redacted_in_the_copy_as_the_policy_obliges(me: Any, customer: str) -> None:
    made = filed(me, customer, kind="access")
    notes = _download(me, customer, made["id"])["profile"]["fields"]["service_notes"]
    assert notes["allow"] is True and notes["obligations"] == ["redact"]


@pytest.mark.parametrize("kind", ["explanation", "restriction"])
def test_other_kinds_have_no_copy(me: Any, customer: str, kind: str) -> None:
    made = filed(me, customer, kind=kind)
    resp = me.get(f"/api/v1/subjects/{customer}/requests/{made['id']}/export")
    assert resp.status_code == 404
