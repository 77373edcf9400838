"""Service API keys: shown once, stored hashed, scoped, revocable, last use recorded."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from governance.auth.models import ApiKey
from governance.db import get_session


def _add_purpose(app: Flask, purpose_id: str) -> None:
    from consent.catalog.models import CatalogVersion, Purpose

    with app.app_context():
        db = get_session()
        if db.get(CatalogVersion, "test") is None:
            db.add(CatalogVersion(version="test", sha256="0" * 64, document={}))
        db.add(
            Purpose(
                id=purpose_id,
                legal_basis="consent",
                required_tier="basic",
                separate_consent=False,
                separate_consent_reason=None,
                optional=True,
                recipient=None,
                recipient_country=None,
                name_zh="测试",
                name_en="Test",
                explanation_zh="测试用途",
                explanation_en="A test purpose",
                catalog_version="test",
            )
        )
        db.commit()


def test_created_key_is_shown_once_and_stored_only_as_hash(app: Flask, as_admin: Any) -> None:
    _add_purpose(app, "marketing_push")
    resp = as_admin.post("/api/v1/api-keys", json={"name": "push", "purposes": ["marketing_push"]})
    assert resp.status_code == 201
    body = resp.get_json()
    token = body["token"]
    key_id, secret = token.split(".")
    assert body["id"] == key_id and body["purposes"] == ["marketing_push"]
    with app.app_context():
        row = get_session().get(ApiKey, key_id)
        assert row is not None
        assert secret not in repr(row.__dict__) and row.secret_hash != secret
    listed = as_admin.get("/api/v1/api-keys").get_json()
    assert [k["id"] for k in listed] == [key_id]
    assert "token" not in listed[0]

    who = app.test_client().get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert who.status_code == 200
    assert who.get_json()["purposes"] == ["marketing_push"]


def test_key_for_unknown_purpose_is_refused(as_admin: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = as_admin.post("/api/v1/api-keys", json={"name": "x", "purposes": ["world_domination"]})
    assert resp.status_code == 422
    assert resp.get_json()["errors"] == {"purposes": ["Unknown purpose: world_domination"]}
    assert db_snapshot() == before


def test_operator_permissions_cannot_be_given_to_a_service(as_admin: Any) -> None:
    resp = as_admin.post(
        "/api/v1/api-keys", json={"name": "x", "purposes": [], "permissions": ["api-keys:manage"]}
    )
    assert resp.status_code == 422
    assert "api-keys:manage" in str(resp.get_json()["errors"])


def test_service_cannot_manage_keys(as_service: Any) -> None:
    service = as_service(permissions=["catalog:read"])
    assert service.get("/api/v1/api-keys").status_code == 403


def test_revocation_takes_effect_on_the_next_request(as_admin: Any, as_service: Any) -> None:
    service = as_service(permissions=["catalog:read"])
    assert service.get("/api/v1/whoami").status_code == 200
    key_id = service.headers["Authorization"].removeprefix("Bearer ").split(".")[0]
    revoked = as_admin.delete(f"/api/v1/api-keys/{key_id}")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"]
    assert service.get("/api/v1/whoami").status_code == 401


def test_revoking_an_unknown_key_is_404(as_admin: Any) -> None:
    assert as_admin.delete("/api/v1/api-keys/gk_doesnotexist").status_code == 404


def test_last_used_time_is_recorded_on_success_only(app: Flask, as_service: Any) -> None:
    service = as_service(permissions=["catalog:read"])
    key_id = service.headers["Authorization"].removeprefix("Bearer ").split(".")[0]
    assert service.post("/api/v1/api-keys", json={}).status_code == 403
    with app.app_context():
        assert get_session().get(ApiKey, key_id).last_used_at is None
    assert service.get("/api/v1/whoami").status_code == 200
    with app.app_context():
        assert get_session().get(ApiKey, key_id).last_used_at is not None


def test_cli_creates_lists_and_revokes_keys(app: Flask, runner: Any) -> None:
    _add_purpose(app, "analytics")
    created = runner.invoke(args=["apikey", "create", "--name", "bi", "--purpose", "analytics"])
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    key_id = token.split(".")[0]
    listed = runner.invoke(args=["apikey", "list"])
    assert key_id in listed.output and token.split(".")[1] not in listed.output
    assert runner.invoke(args=["apikey", "revoke", key_id]).exit_code == 0
    with app.app_context():
        keys = list(get_session().scalars(select(ApiKey)))
        assert keys[0].revoked_at is not None
    bad = runner.invoke(args=["apikey", "create", "--name", "bi", "--purpose", "nope"])
    assert bad.exit_code != 0 and "Unknown purpose: nope" in bad.output
