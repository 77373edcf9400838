"""Profile API: create and update profiles, find subjects, and the guarded read.

``POST /api/v1/profiles/<subject>/read`` is the guarded read
(:func:`governance.profiles.guarded.read_profile`): the only endpoint that returns profile
values. Writes validate against the catalog, pass the PII guard, encrypt and are audited
(field names only). A lookup by identifier takes the value in the body, never the URL,
and answers subject ids only.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, stream_with_context
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

import audit
from consent import ledger
from governance.api import Blueprint, get_api
from governance.auth.actors import current_actor
from governance.auth.permissions import Permission, requires
from governance.brands import brand_for_new
from governance.db import get_session
from governance.profiles.guarded import export_cohort, read_profile
from governance.profiles.store import (
    create_subject,
    find_subject_by,
    load_field_specs,
    prepare_values,
    put_values,
)

_SUBJECT_ID = r"^sub_[A-Za-z0-9_-]{22}$"
_NAME = validate.Length(min=1, max=64)

blp = Blueprint(
    "profiles",
    __name__,
    url_prefix="/api/v1/profiles",
    description="Protected profiles: writes, lookups, and the guarded read",
)


class _Strict(Schema):
    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE


class ProfileCreateSchema(_Strict):
    """A new customer's profile."""

    values = fields.Dict(
        keys=fields.String(validate=_NAME),
        required=True,
        validate=validate.Length(max=100),
        metadata={"description": "catalog field name -> value"},
    )
    brand = fields.String(
        load_default=None, metadata={"description": "default: the caller's brand"}
    )


class ProfileUpdateSchema(_Strict):
    """Values to set (each replaces the stored one)."""

    values = fields.Dict(
        keys=fields.String(validate=_NAME),
        required=True,
        validate=validate.Length(min=1, max=100),
    )


class ProfileWrittenSchema(Schema):
    """What was written: field names only."""

    subject = fields.String()
    written = fields.List(fields.String())
    masked = fields.List(
        fields.String(), metadata={"description": "free-text fields stored with PII masked"}
    )


class ReadRequestSchema(_Strict):
    """What to read, and why."""

    purpose = fields.String(required=True, validate=_NAME)
    fields_ = fields.List(
        fields.String(validate=_NAME),
        data_key="fields",
        required=True,
        validate=validate.Length(min=1, max=100),
    )


class FieldReadSchema(Schema):
    """One field of a guarded read."""

    allow = fields.Boolean()
    reasons = fields.List(fields.String(), metadata={"description": "why it is withheld"})
    obligations = fields.List(fields.String(), metadata={"description": "applied: mask, redact"})
    stored = fields.Boolean(metadata={"description": "revealed fields: a value is stored"})
    value = fields.Raw(allow_none=True, metadata={"description": "revealed fields only"})


class ProfileReadSchema(Schema):
    """The guarded read's answer."""

    subject = fields.String()
    purpose = fields.String()
    fields_ = fields.Dict(
        keys=fields.String(), values=fields.Nested(FieldReadSchema), data_key="fields"
    )
    flags = fields.List(fields.String())
    bundle_hash = fields.String(metadata={"description": "the policy bundle that decided"})
    audit_seq = fields.Integer(metadata={"description": "the read's audit entry"})


class LookupSchema(_Strict):
    """An identifier to look up (in the body, so it stays out of URLs and logs)."""

    field = fields.String(required=True, validate=_NAME)
    value = fields.String(required=True, validate=validate.Length(min=1, max=256))


class LookupResultSchema(Schema):
    """Matching subjects (ids only)."""

    subjects = fields.List(fields.String())


def _written(
    db: Any, action: str, subject_id: str, clean: dict[str, Any], masked: list[str]
) -> dict[str, Any]:
    """Audit a write (field names only), commit, and answer what was written."""
    audit.record(
        db,
        action=action,
        subject=subject_id,
        details={"fields": sorted(clean), "masked": sorted(masked)},
    )
    db.commit()
    return {"subject": subject_id, "written": sorted(clean), "masked": sorted(masked)}


@blp.route("")
class Profiles(MethodView):
    """Create a customer's profile."""

    @requires(Permission.PROFILE_WRITE)
    @blp.arguments(ProfileCreateSchema)
    @blp.response(201, ProfileWrittenSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a subject with its values (catalog fields only; PII guard on free text)."""
        actor = current_actor()
        db = get_session()
        brand = brand_for_new(db, actor.brand, body["brand"])
        clean, masked = prepare_values(load_field_specs(db), body["values"])
        subject_id = create_subject(db, clean, brand=brand, validated=True)
        return _written(db, "profile.create", subject_id, clean, masked)


@blp.route("/<subject_id>")
class Profile(MethodView):
    """Update a customer's profile."""

    @requires(Permission.PROFILE_WRITE)
    @blp.arguments(ProfileUpdateSchema)
    @blp.response(200, ProfileWrittenSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def patch(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Set values of an existing subject (each replaces the stored one)."""
        db = get_session()
        ledger.require_subject(db, subject_id, current_actor().brand)
        clean, masked = prepare_values(load_field_specs(db), body["values"])
        put_values(db, subject_id, clean, validated=True)
        return _written(db, "profile.write", subject_id, clean, masked)


@blp.route("/<subject_id>/read")
class ProfileRead(MethodView):
    """The guarded read."""

    @requires(Permission.PROFILE_READ)
    @blp.arguments(ReadRequestSchema)
    @blp.response(200, ProfileReadSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Read fields of one subject for a purpose: consent, policy, decryption, audit.

        Each field is revealed only if the policy allows it for the caller, the purpose
        and the subject's consent; masked or redacted as the policy obliges; withheld
        with ``step_up_required`` until an operator passes a fresh second factor. The read
        is in the audit trail (``audit_seq``) before the answer leaves.
        """
        result = read_profile(
            get_session(), current_actor(), subject_id, body["purpose"], body["fields_"]
        )
        out = result.to_json()
        out["fields_"] = out.pop("fields")
        return out


class ExportFilterSchema(_Strict):
    """Which subjects an export considers (consent and policy decide the rest)."""

    tiers = fields.List(
        fields.String(validate=validate.OneOf(["basic", "behaviour", "payment"])),
        load_default=None,
        validate=validate.Length(min=1),
        metadata={"description": "consent tiers accepted (consent purposes)"},
    )
    created_after = fields.AwareDateTime(load_default=None)
    created_before = fields.AwareDateTime(load_default=None)


class ExportRequestSchema(_Strict):
    """A cohort export."""

    purpose = fields.String(required=True, validate=_NAME)
    fields_ = fields.List(
        fields.String(validate=_NAME),
        data_key="fields",
        required=True,
        validate=validate.Length(min=1, max=100),
    )
    filter = fields.Nested(ExportFilterSchema, load_default=dict)
    limit = fields.Integer(load_default=None, validate=validate.Range(min=1))


@blp.route("/exports")
class Exports(MethodView):
    """Consented-cohort exports."""

    @requires(Permission.PROFILE_EXPORT)
    @blp.arguments(ExportRequestSchema)
    @blp.doc(
        responses={
            "200": {
                "description": "JSON Lines, one subject each: "
                '`{"subject": "sub_...", "values": {field: value}}`; headers '
                "`X-Export-Id` and `X-Export-Candidates`",
                "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
            }
        }
    )
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> Response:
        """Stream the subjects whose consent and the policy allow it, allowed fields only.

        Consent is read fresh page by page, each page's subjects are recorded as the
        export's references before their values leave, and the export's start and end
        (count, manifest hash) are audited. Operators need a fresh second factor (a bulk
        export); volume limits per policy apply to the records exported today.
        """
        wanted = body["filter"] or {}
        where = ledger.CohortFilter(
            tiers=tuple(wanted["tiers"]) if wanted.get("tiers") else None,
            created_after=wanted.get("created_after"),
            created_before=wanted.get("created_before"),
        )
        started = export_cohort(
            get_session(),
            current_actor(),
            body["purpose"],
            body["fields_"],
            where=where,
            limit=body["limit"],
        )
        response = Response(stream_with_context(started.lines), mimetype="application/x-ndjson")
        response.headers["X-Export-Id"] = started.id
        response.headers["X-Export-Candidates"] = str(started.candidates)
        return response


@blp.route("/lookup")
class Lookup(MethodView):
    """Find subjects by an identifier."""

    @requires(Permission.PROFILE_READ)
    @blp.arguments(LookupSchema)
    @blp.response(200, LookupResultSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subjects whose identifier field equals the value (blind index; nothing decrypted).

        Only the caller's brand's customers are found. The lookup is audited with the
        field name and the number found, never the value.
        """
        db = get_session()
        found = find_subject_by(db, body["field"], body["value"], brand=current_actor().brand)
        audit.record(
            db,
            action="profile.lookup",
            decision="allow",
            resource=f"field:{body['field']}",
            details={"found": len(found)},
        )
        db.commit()
        return {"subjects": found}


def init_app(app: Flask) -> None:
    """Register the profile API."""
    get_api(app).register_blueprint(blp)
