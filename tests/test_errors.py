"""Every API error is problem+json with a stable type, the request id, and nothing written."""

from __future__ import annotations

import json
from typing import Any

import pytest

PROBLEM = "application/problem+json"


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "MAX_BODY_BYTES": 2048}


def assert_problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body: dict[str, Any] = resp.get_json(force=True)
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    return body


def test_malformed_json_is_400_and_writes_nothing(as_admin: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = as_admin.post(
        "/api/v1/api-keys", data='{"name": "x", "purposes": [', content_type="application/json"
    )
    assert_problem(resp, 400, "malformed-json")
    assert db_snapshot() == before


def test_unknown_field_is_422_naming_the_field_and_writes_nothing(
    as_admin: Any, db_snapshot: Any
) -> None:
    before = db_snapshot()
    resp = as_admin.post("/api/v1/api-keys", json={"name": "crm", "purposes": [], "colour": "red"})
    body = assert_problem(resp, 422, "unknown-field")
    assert body["errors"] == {"colour": ["Unknown field."]}
    assert db_snapshot() == before


def test_missing_and_invalid_fields_are_422_validation_error(
    as_admin: Any, db_snapshot: Any
) -> None:
    before = db_snapshot()
    resp = as_admin.post("/api/v1/api-keys", json={"name": "", "purposes": "all"})
    body = assert_problem(resp, 422, "validation-error")
    assert set(body["errors"]) == {"name", "purposes"}
    assert db_snapshot() == before


def test_oversized_body_is_413_and_writes_nothing(as_admin: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    payload = json.dumps({"name": "x" * 4096, "purposes": []})
    resp = as_admin.post("/api/v1/api-keys", data=payload, content_type="application/json")
    body = assert_problem(resp, 413, "payload-too-large")
    assert "2048" in body["detail"]
    assert db_snapshot() == before


def test_wrong_content_type_is_415_and_writes_nothing(as_admin: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = as_admin.post("/api/v1/api-keys", data="name=crm", content_type="text/plain")
    assert_problem(resp, 415, "unsupported-media-type")
    assert db_snapshot() == before


def test_unknown_route_is_404_problem(client: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = client.post("/api/v1/no-such-thing", json={"a": 1})
    body = assert_problem(resp, 404, "not-found")
    assert body["instance"] == "/api/v1/no-such-thing"
    assert db_snapshot() == before


def test_wrong_method_is_405_with_allow_header(client: Any) -> None:
    resp = client.put("/healthz")
    assert_problem(resp, 405, "method-not-allowed")
    assert "GET" in resp.headers["Allow"]


def test_missing_api_key_is_401_and_writes_nothing(client: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = client.post("/api/v1/portal-links", json={"subject_id": "sub_fictional1"})
    assert_problem(resp, 401, "unauthenticated")
    assert db_snapshot() == before


@pytest.mark.parametrize(
    "header",
    ["Bearer gk_0000000000000000.not-a-secret", "Bearer nonsense", "Basic dXNlcjpwYXNz"],
)
def test_unknown_or_malformed_api_key_is_401(client: Any, header: str) -> None:
    resp = client.get("/api/v1/whoami", headers={"Authorization": header})
    assert_problem(resp, 401, "invalid-credentials")


def test_revoked_api_key_is_401_and_writes_nothing(
    as_service: Any, as_admin: Any, db_snapshot: Any
) -> None:
    service = as_service(permissions=["portal-links:issue"])
    key_id = service.headers["Authorization"].removeprefix("Bearer ").split(".")[0]
    assert as_admin.delete(f"/api/v1/api-keys/{key_id}").status_code == 200
    before = db_snapshot()
    resp = service.post("/api/v1/portal-links", json={"subject_id": "sub_fictional1"})
    body = assert_problem(resp, 401, "invalid-credentials")
    assert "revoked" in body["detail"]
    assert db_snapshot() == before


def test_operator_without_role_is_403_and_writes_nothing(
    as_operator: Any, db_snapshot: Any
) -> None:
    marketing = as_operator("marketing")
    before = db_snapshot()
    resp = marketing.post("/api/v1/api-keys", json={"name": "crm", "purposes": []})
    body = assert_problem(resp, 403, "forbidden")
    assert "api-keys:manage" in body["detail"]
    assert db_snapshot() == before


def test_cookie_request_without_csrf_token_is_403_and_writes_nothing(
    as_admin: Any, db_snapshot: Any
) -> None:
    before = db_snapshot()
    resp = as_admin.client.post("/api/v1/api-keys", json={"name": "crm", "purposes": []})
    assert_problem(resp, 403, "csrf-failed")
    assert db_snapshot() == before


def test_server_error_is_500_problem_without_exception_text(app: Any) -> None:
    from governance.auth.permissions import public

    @app.get("/api/v1/boom")
    @public
    def boom() -> str:
        raise RuntimeError("secret-ish internal detail 10012345678")

    resp = app.test_client().get("/api/v1/boom")
    body = assert_problem(resp, 500, "internal-error")
    assert "10012345678" not in resp.get_data(as_text=True)
    assert "nothing was changed" in body["detail"]


def test_every_problem_type_is_documented(client: Any) -> None:
    from governance.errors import PROBLEM_TYPES

    for slug, ptype in PROBLEM_TYPES.items():
        resp = client.get(ptype.uri, headers={"Accept": "text/html"})
        assert resp.status_code == 200, slug
        assert ptype.title in resp.get_data(as_text=True)


def test_browser_page_errors_are_html(client: Any) -> None:
    resp = client.get("/console/nowhere", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    assert resp.headers["X-Request-ID"] in resp.get_data(as_text=True)


def test_docs_errors_lists_every_problem_type() -> None:
    from pathlib import Path

    from governance.errors import PROBLEM_TYPES

    text = (Path(__file__).resolve().parent.parent / "docs" / "errors.md").read_text()
    for ptype in PROBLEM_TYPES.values():
        assert f"| `{ptype.uri}` | {ptype.status} |" in text
