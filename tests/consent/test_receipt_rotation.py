"""Rotating the receipt-signing key: receipts signed before stay verifiable."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEntry
from consent.receipts import InvalidReceipt, retired_keys_path, verify
from governance import create_app
from governance.auth import services
from governance.db import get_engine, get_session
from tests.conftest import ActorClient
from tests.consent.conftest import EVIDENCE

JWKS_PATH = "/.well-known/governance-consent-jwks.json"


def _receipt(app: Flask, make_subject: Any, n: int) -> str:
    """Grant for a new subject ``n`` through ``app``; returns the receipt (compact JWS)."""
    subject = make_subject(n)
    client = app.test_client()
    with client.session_transaction() as sess:
        sess.update(actor_type="subject", actor_id=subject, expires_at=services.session_expiry(30))
    me = ActorClient(client)
    made = me.post(
        f"/api/v1/consent/subjects/{subject}/decisions",
        json={
            "kind": "grant",
            "purposes": ["marketing_push"],
            "tier": "basic",
            "notice_version": "2026-09",
            "channel": "portal",
            "evidence_sha256": EVIDENCE,
        },
    )
    assert made.status_code == 201, made.get_json()
    receipt_id = made.get_json()["events"][0]["receipt_id"]
    return str(me.get(f"/api/v1/consent/receipts/{receipt_id}").get_data(as_text=True))


def _kid(jws: str) -> str:
    header = jws.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"])


@pytest.fixture
def restarted(app_config: dict[str, Any]) -> Iterator[Any]:
    """Start another app on the same instance (as restarted workers would)."""
    started: list[Flask] = []

    def start() -> Flask:
        application = create_app(app_config)
        started.append(application)
        return application

    yield start
    for application in started:
        get_engine(application).dispose()


def test_receipts_signed_before_a_rotation_still_verify(
    app: Flask, ledger_db: Any, make_subject: Any, runner: Any, restarted: Any
) -> None:
    before = _receipt(app, make_subject, 1)
    old_kid = _kid(before)

    rotated = runner.invoke(args=["consent", "rotate-receipt-key"])

    assert rotated.exit_code == 0, rotated.output
    assert f"{old_kid} retired" in rotated.output
    after_app = restarted()
    after = _receipt(after_app, make_subject, 2)
    new_kid = _kid(after)
    assert new_kid != old_kid and f"{new_kid} signs" in rotated.output
    key_set = after_app.test_client().get(JWKS_PATH).get_json()
    assert [k["kid"] for k in key_set["keys"]] == [new_kid, old_kid]
    assert all(set(k) == {"kty", "crv", "x", "kid", "use", "alg"} for k in key_set["keys"])
    verify(before, key_set)
    verify(after, key_set)
    # Without the retired key the old receipt would be an orphan: the set is what saves it.
    only_new = {"keys": [k for k in key_set["keys"] if k["kid"] == new_kid]}
    with pytest.raises(InvalidReceipt, match="no key with kid"):
        verify(before, only_new)

    key_path = app.config["KEY_PATHS"].receipt_signing
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    retired = json.loads(retired_keys_path(key_path).read_text())
    assert [k["kid"] for k in retired["keys"]] == [old_kid]
    with app.app_context():
        entry = get_session().scalar(
            select(AuditEntry).where(AuditEntry.action == "consent.receipt_key.rotate")
        )
    assert entry is not None
    assert json.loads(entry.details) == {"retired_kid": old_kid, "kid": new_kid}


def test_every_retired_key_stays_published(
    app: Flask, ledger_db: Any, make_subject: Any, runner: Any, restarted: Any
) -> None:
    kids = [_kid(_receipt(app, make_subject, 1))]
    for _ in range(2):
        assert runner.invoke(args=["consent", "rotate-receipt-key"]).exit_code == 0
    latest = restarted()
    kids.append(_kid(_receipt(latest, make_subject, 2)))

    published = [k["kid"] for k in latest.test_client().get(JWKS_PATH).get_json()["keys"]]

    assert len(set(published)) == 3 and published[0] == kids[-1] and kids[0] in published


def test_a_damaged_retired_key_set_stops_the_rotation_and_changes_nothing(
    app: Flask, runner: Any
) -> None:
    key_path = app.config["KEY_PATHS"].receipt_signing
    retired = retired_keys_path(key_path)
    retired.write_text(json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "abc"}]}))
    key_before = key_path.read_bytes()

    result = runner.invoke(args=["consent", "rotate-receipt-key"])

    assert result.exit_code != 0
    assert "not a retired receipt key" in result.output
    assert key_path.read_bytes() == key_before
    assert "BEGIN" not in result.output  # never the key
