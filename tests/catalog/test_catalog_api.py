"""The catalog API: readable with catalog:read, refused to anyone else."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from consent.catalog.loader import LoadResult
from consent.catalog.schema import notice_text_sha256

PATHS = [
    "/api/v1/catalog/",
    "/api/v1/catalog/fields",
    "/api/v1/catalog/purposes",
    "/api/v1/catalog/notices",
    "/api/v1/catalog/notices/2026-01",
]


@pytest.fixture
def reader(as_service: Any) -> Any:
    """A service holding catalog:read only."""
    return as_service(permissions=["catalog:read"])


def test_root_gives_current_version_hash_and_counts(catalog: LoadResult, reader: Any) -> None:
    resp = reader.get("/api/v1/catalog/")

    assert resp.status_code == 200
    body = resp.get_json()
    assert body["version"] == "2026.11.2"
    assert body["sha256"] == catalog.sha256
    assert (body["fields"], body["purposes"], body["notices"]) == (20, 7, 2)


def test_root_is_404_before_any_catalog_is_loaded(reader: Any) -> None:
    resp = reader.get("/api/v1/catalog/")

    assert resp.status_code == 404
    assert resp.get_json()["detail"] == "No catalog has been loaded yet."


def test_fields_lists_every_field_with_tier_and_classification(
    catalog: LoadResult, reader: Any
) -> None:
    resp = reader.get("/api/v1/catalog/fields")

    assert resp.status_code == 200
    fields = {f["name"]: f for f in resp.get_json()}
    assert len(fields) == 20
    assert list(fields) == sorted(fields)
    card = fields["bank_card_number"]
    assert (card["tier"], card["classification"], card["pipl_sensitive"]) == (
        "payment",
        "core",
        True,
    )
    assert card["label_zh"] == "银行卡号"
    assert card["catalog_version"] == "2026.11.2"


def test_purposes_lists_basis_recipients_and_both_languages(
    catalog: LoadResult, reader: Any
) -> None:
    resp = reader.get("/api/v1/catalog/purposes")

    assert resp.status_code == 200
    purposes = {p["id"]: p for p in resp.get_json()}
    transfer = purposes["cross_border_transfer"]
    assert transfer["separate_consent_reason"] == "cross_border"
    assert transfer["recipient"] == "Example Retail Singapore Pte. Ltd."
    assert transfer["recipient_country"] == "SG"
    assert transfer["explanation_zh"] and transfer["explanation_en"]
    assert purposes["analytics"]["recipient"] is None


def test_notices_are_listed_without_their_text(catalog: LoadResult, reader: Any) -> None:
    resp = reader.get("/api/v1/catalog/notices")

    assert resp.status_code == 200
    notices = resp.get_json()
    assert [n["version"] for n in notices] == ["2026-01", "2026-09"]
    assert all("text_zh" not in n and "text_en" not in n for n in notices)
    assert notices[1]["material_change"] is True
    assert notices[1]["effective_date"] == "2026-09-01"


def test_one_notice_comes_with_its_text_and_matching_hash(catalog: LoadResult, reader: Any) -> None:
    resp = reader.get("/api/v1/catalog/notices/2026-09")

    assert resp.status_code == 200
    notice = resp.get_json()
    assert notice["text_zh"].startswith("示例零售隐私政策")
    assert "2026-09" in notice["text_zh"].splitlines()[0]
    assert notice["text_sha256"] == notice_text_sha256(notice["text_zh"], notice["text_en"])


def test_unknown_notice_version_is_404(catalog: LoadResult, reader: Any) -> None:
    resp = reader.get("/api/v1/catalog/notices/1999-01")

    assert resp.status_code == 404
    assert resp.get_json()["type"] == "/problems/not-found"


def test_operator_can_read_the_catalog(catalog: LoadResult, as_operator: Any) -> None:
    resp = as_operator("marketing").get("/api/v1/catalog/purposes")

    assert resp.status_code == 200
    assert len(resp.get_json()) == 7


@pytest.mark.parametrize("path", PATHS)
def test_anonymous_is_401(catalog: LoadResult, client: FlaskClient, path: str) -> None:
    resp = client.get(path)

    assert resp.status_code == 401
    assert resp.get_json()["type"] == "/problems/unauthenticated"


@pytest.mark.parametrize("path", PATHS)
def test_service_without_catalog_read_is_403(
    catalog: LoadResult, as_service: Any, path: str
) -> None:
    resp = as_service(permissions=["portal-links:issue"]).get(path)

    assert resp.status_code == 403
    assert "catalog:read" in resp.get_json()["detail"]


def test_openapi_documents_the_catalog_endpoints_and_schemas(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()

    for path in [
        "/api/v1/catalog/",
        "/api/v1/catalog/fields",
        "/api/v1/catalog/notices",
        "/api/v1/catalog/purposes",
        "/api/v1/catalog/notices/{version}",
    ]:
        assert "get" in spec["paths"][path], path
    schemas = spec["components"]["schemas"]
    assert {
        "CatalogField",
        "CatalogPurpose",
        "PrivacyNotice",
        "PrivacyNoticeSummary",
        "CatalogVersion",
    } <= set(schemas)
    assert "text_zh" not in schemas["PrivacyNoticeSummary"]["properties"]
