"""Catalog API: the current version, fields, purposes and privacy notices (read only)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from consent.catalog import services
from consent.catalog.models import CatalogField, PrivacyNotice, Purpose
from consent.catalog.services import CurrentCatalog
from governance.api import Blueprint
from governance.auth.permissions import Permission, requires
from governance.db import get_session
from governance.errors import ApiError

blp = Blueprint(
    "catalog",
    __name__,
    url_prefix="/api/v1/catalog",
    description="The field, purpose and privacy-notice catalog",
)


class CatalogVersionSchema(Schema):
    """The current catalog."""

    version = fields.String(metadata={"description": "catalog version, e.g. 2026.11.1"})
    sha256 = fields.String(metadata={"description": "SHA-256 of the canonical JSON document"})
    loaded_at = fields.DateTime()
    fields_count = fields.Integer(attribute="fields", data_key="fields")
    purposes = fields.Integer()
    notices = fields.Integer()


class CatalogFieldSchema(Schema):
    """A profile field."""

    name = fields.String()
    category = fields.String()
    tier = fields.String(metadata={"description": "basic < behaviour < payment"})
    classification = fields.String(metadata={"description": "public/internal/sensitive/core"})
    pipl_sensitive = fields.Boolean(metadata={"description": "sensitive PI, PIPL art. 28"})
    free_text = fields.Boolean(metadata={"description": "scrubbed by the PII guard"})
    identifier = fields.Boolean(metadata={"description": "has a blind index"})
    value_type = fields.String(metadata={"description": "string/integer/number/list/date"})
    retention_days = fields.Integer()
    label_zh = fields.String()
    label_en = fields.String()
    pii_on_write = fields.String(
        metadata={"description": "free text: PII it may not hold is refused (reject) or masked"}
    )
    pii_allowed = fields.List(
        fields.String(), metadata={"description": "free text: PII entity types it may hold"}
    )
    catalog_version = fields.String(metadata={"description": "version that last changed it"})


class CatalogPurposeSchema(Schema):
    """A purpose of use."""

    id = fields.String()
    legal_basis = fields.String(metadata={"description": "PIPL art. 13 basis"})
    required_tier = fields.String()
    separate_consent = fields.Boolean()
    separate_consent_reason = fields.String(
        allow_none=True,
        metadata={
            "description": "sensitive_pi/third_party_provision/public_disclosure/cross_border"
        },
    )
    optional = fields.Boolean(metadata={"description": "refusing it never blocks the service"})
    recipient = fields.String(allow_none=True)
    recipient_country = fields.String(allow_none=True, metadata={"description": "ISO 3166"})
    name_zh = fields.String()
    name_en = fields.String()
    explanation_zh = fields.String()
    explanation_en = fields.String()
    catalog_version = fields.String(metadata={"description": "version that last changed it"})


class PrivacyNoticeSummarySchema(Schema):
    """A privacy-notice version, without its text."""

    version = fields.String()
    effective_date = fields.Date()
    material_change = fields.Boolean(
        metadata={"description": "earlier consents to its purposes need re-consent"}
    )
    purposes = fields.List(fields.String())
    text_sha256 = fields.String(
        metadata={"description": 'SHA-256 of UTF-8(text_zh + "\\n\\n" + text_en)'}
    )
    catalog_version = fields.String(metadata={"description": "version that added it"})


class PrivacyNoticeSchema(PrivacyNoticeSummarySchema):
    """A privacy-notice version with its text."""

    text_zh = fields.String()
    text_en = fields.String()


@blp.route("/")
class CatalogRoot(MethodView):
    """The current catalog."""

    @requires(Permission.CATALOG_READ)
    @blp.response(200, CatalogVersionSchema)
    def get(self) -> CurrentCatalog:
        """Current catalog version, document hash and counts."""
        current = services.current_catalog(get_session())
        if current is None:
            raise ApiError("not-found", "No catalog has been loaded yet.")
        return current


@blp.route("/fields")
class Fields(MethodView):
    """Profile fields."""

    @requires(Permission.CATALOG_READ)
    @blp.response(200, CatalogFieldSchema(many=True))
    def get(self) -> list[CatalogField]:
        """Every profile field, by name."""
        return services.list_fields(get_session())


@blp.route("/purposes")
class Purposes(MethodView):
    """Purposes of use."""

    @requires(Permission.CATALOG_READ)
    @blp.response(200, CatalogPurposeSchema(many=True))
    def get(self) -> list[Purpose]:
        """Every purpose, by id."""
        return services.list_purposes(get_session())


@blp.route("/notices")
class Notices(MethodView):
    """Privacy-notice versions."""

    @requires(Permission.CATALOG_READ)
    @blp.response(200, PrivacyNoticeSummarySchema(many=True))
    def get(self) -> list[PrivacyNotice]:
        """Every notice version, oldest first, without texts (see /notices/{version})."""
        return services.list_notices(get_session())


@blp.route("/notices/<string:version>")
class NoticeItem(MethodView):
    """One privacy-notice version."""

    @requires(Permission.CATALOG_READ)
    @blp.response(200, PrivacyNoticeSchema)
    def get(self, version: str) -> Any:
        """One notice version with its zh-CN and English texts."""
        notice = services.get_notice(get_session(), version)
        if notice is None:
            raise ApiError("not-found", f"No privacy notice version {version}.")
        return notice
