"""Audit settings (retention floor, checkpoint interval, origin) and the signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import audit
from governance import create_app
from governance.settings import Settings


def test_retention_below_three_years_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_AUDIT_RETENTION_DAYS", "1094")
    with pytest.raises(ValidationError, match="audit_retention_days"):
        Settings()


def test_retention_defaults_to_three_years_and_may_be_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert Settings().audit_retention_days == 1095
    monkeypatch.setenv("GOVERNANCE_AUDIT_RETENTION_DAYS", "3650")
    assert Settings().audit_retention_days == 3650


def test_a_negative_checkpoint_interval_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERNANCE_AUDIT_CHECKPOINT_INTERVAL_SECONDS", "-1")
    with pytest.raises(ValidationError, match="audit_checkpoint_interval_seconds"):
        Settings()


def test_the_log_origin_defaults_to_the_public_host(make_app: Any) -> None:
    assert audit.log_origin(make_app()) == "portal.example.com/audit"
    named = make_app(AUDIT_LOG_ORIGIN="audit.brand.example.com/log")
    assert audit.log_origin(named) == "audit.brand.example.com/log"


def test_the_signing_key_is_generated_once_apart_from_the_encryption_keys(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    first = create_app(app_config)
    key_path = Path(first.config["KEY_PATHS"].audit_signing)
    assert key_path.exists()
    assert key_path.stat().st_mode & 0o077 == 0  # readable by its owner only
    others = {
        Path(p) for name, p in vars(first.config["KEY_PATHS"]).items() if name != "audit_signing"
    }
    assert key_path not in others
    again = create_app(app_config)
    assert audit.get_signer(again).key_id == audit.get_signer(first).key_id


def test_the_public_key_is_published_without_sign_in(app: Any) -> None:
    resp = app.test_client().get("/.well-known/governance-audit-key.json")
    assert resp.status_code == 200
    body = resp.get_json()
    with app.app_context():
        assert [k["key_id"] for k in body["keys"]] == list(audit.public_keys())
    assert body["origin"] == "portal.example.com/audit"
    assert "PRIVATE" not in resp.get_data(as_text=True)
