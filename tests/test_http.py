"""Request ids, security headers and session-cookie flags on every response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from governance import create_app
from governance.keys import KeyPaths, ensure_dev_keys


@pytest.mark.parametrize(
    "path", ["/healthz", "/docs", "/openapi.json", "/console/login", "/api/v1/whoami", "/nope"]
)
def test_security_headers_on_every_response(client: Any, path: str) -> None:
    resp = client.get(path)
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


def test_request_id_is_generated_and_echoed(client: Any) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert len(first) == 32
    assert first != second


def test_well_formed_incoming_request_id_is_kept(client: Any) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": "trace-0001-abcd"})
    assert resp.headers["X-Request-ID"] == "trace-0001-abcd"


def test_malformed_incoming_request_id_is_replaced(client: Any) -> None:
    resp = client.get("/healthz", headers={"X-Request-ID": "<script>alert(1)</script>"})
    assert resp.headers["X-Request-ID"] != "<script>alert(1)</script>"
    assert resp.headers["X-Request-ID"].isalnum()


def test_healthz_reports_database_and_policy_bundle(client: Any) -> None:
    from policies.engine import PolicySource

    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "status": "ok",
        "database": "ok",
        "policy_bundle": PolicySource.load().bundle_hash,
    }


def test_healthz_reports_unreachable_database(tmp_path: Path) -> None:
    app = create_app(
        {
            "ENV": "testing",
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/db.sqlite3",
        }
    )
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "unreachable"


def test_docs_are_served_without_external_cdn(client: Any) -> None:
    page = client.get("/docs").get_data(as_text=True)
    assert "https://" not in page and "http://" not in page
    asset = client.get("/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert asset.mimetype == "text/javascript"
    asset.close()
    assert client.get("/docs/assets/..%2Fpyproject.toml").status_code == 404
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/api-keys" in spec["paths"]


def test_session_cookie_is_httponly_and_samesite(app: Any, make_operator: Any) -> None:
    client = app.test_client()
    client.get("/console/login")
    client.post("/console/login", data={"username": "nobody", "password": "x"})
    cookie = client.get_cookie("governance_session")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"


def test_production_cookies_are_secure_and_keys_are_not_generated(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    with pytest.raises(Exception, match="cannot be read"):
        create_app({"ENV": "production", "INSTANCE_PATH": str(tmp_path), "KEY_DIR": str(key_dir)})
    assert not key_dir.exists()
    ensure_dev_keys(
        KeyPaths(
            secret_key=key_dir / "session.key",
            kek=key_dir / "kek.json",
            blind_index=key_dir / "blind-index.key",
            portal_link=key_dir / "portal-link.key",
            audit_signing=key_dir / "audit-signing.pem",
            receipt_signing=key_dir / "consent-receipt-signing.pem",
        )
    )
    app = create_app({"ENV": "production", "INSTANCE_PATH": str(tmp_path), "KEY_DIR": str(key_dir)})
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_generated_keys_are_private(app: Any) -> None:
    paths: KeyPaths = app.config["KEY_PATHS"]
    for path in paths.all():
        assert path.stat().st_mode & 0o777 == 0o600, path
    assert paths.kek.parent.stat().st_mode & 0o077 == 0


def test_openapi_documents_errors_as_problem_json_and_auth(client: Any) -> None:
    spec = client.get("/openapi.json").get_json()
    default = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default["content"]) == ["application/problem+json"]
    assert {"type", "title", "status", "detail", "request_id", "errors"} <= set(
        spec["components"]["schemas"]["Problem"]["properties"]
    )
    assert spec["security"] == [{"apiKey": []}, {"session": []}]
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
