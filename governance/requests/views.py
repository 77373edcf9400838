"""Data-subject requests API: the customer's own requests, and the DPO's queue.

Customers (a portal session, ``subject-requests:own``) act for themselves only, under
``/api/v1/subjects/<subject_id>/requests``: another subject's id, or a request that is not
theirs, answers 404 exactly as one that does not exist. The DPO
(``subject-requests:manage``) works ``/api/v1/requests``: operators of one brand see only
their brand's customers' requests. The rules are in :mod:`governance.requests.services`.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, current_app
from flask.views import MethodView
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from governance.api import Blueprint, get_api
from governance.auth.actors import current_actor
from governance.auth.permissions import Permission, requires
from governance.db import get_session
from governance.errors import ApiError
from governance.requests import services
from governance.requests.explanation import explain
from governance.requests.export import (
    AUDIT_PAGE,
    MAX_AUDIT_PAGE,
    audit_page,
    build_export,
    checkpoint_for_page,
)
from governance.requests.models import KINDS, STATUSES

blp = Blueprint(
    "subject_requests",
    __name__,
    url_prefix="/api/v1",
    description="Data-subject requests (PIPL arts. 44-50): access and copy, portability, "
    "correction, erasure, restriction, explanation; the DPO's queue",
)

_NAME = validate.Length(min=1, max=64)
_CURSOR = validate.Length(min=1, max=120)
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class _Strict(Schema):
    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE


# -- schemas ---------------------------------------------------------------------------------


class DsrCreateSchema(_Strict):
    """A customer's request."""

    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    reason = fields.String(
        validate=validate.OneOf(services.REQUEST_REASONS),
        metadata={"description": "why (a code; optional)"},
    )
    values = fields.Dict(
        keys=fields.String(validate=_NAME),
        validate=validate.Length(min=1, max=100),
        metadata={
            "description": "correction: catalog field -> new value, written at once (catalog "
            "check and PII guard); not for fields the brand keeps from its records"
        },
    )
    fields_ = fields.List(
        fields.String(validate=_NAME),
        data_key="fields",
        validate=validate.Length(min=1, max=100),
        metadata={"description": "correction: fields to be checked by the DPO (names only)"},
    )
    confirm = fields.Boolean(metadata={"description": "erasure: must be true"})

    @validates_schema
    def _per_kind(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """Values and fields belong to corrections, confirm to erasures."""
        kind = data.get("kind")
        if kind != "correction":
            for name, key in (("values", "values"), ("fields", "fields_")):
                if key in data:
                    raise ValidationError("Only for a correction.", name)
        if kind != "erasure" and "confirm" in data:
            raise ValidationError("Only for an erasure.", "confirm")


class DsrActorSchema(Schema):
    """Who filed it."""

    type = fields.String()
    id = fields.String()


class DsrSchema(Schema):
    """A data-subject request: ids, codes, field names and times, never a value."""

    id = fields.String()
    subject = fields.String()
    brand = fields.String()
    kind = fields.String(metadata={"description": ", ".join(KINDS)})
    status = fields.String(metadata={"description": ", ".join(STATUSES)})
    channel = fields.String()
    requested_by = fields.Nested(DsrActorSchema)
    handled_by = fields.String(allow_none=True, metadata={"description": "operator id"})
    created_at = fields.String()
    due_at = fields.String()
    closed_at = fields.String(allow_none=True)
    overdue = fields.Boolean()
    details = fields.Dict(metadata={"description": "field names and reason codes"})
    result = fields.Dict(allow_none=True, metadata={"description": "result code, counts, note"})


class DsrPageSchema(Schema):
    """A page of requests."""

    items = fields.List(fields.Nested(DsrSchema))
    next = fields.String(allow_none=True, metadata={"description": "pass as the cursor"})


class DsrOwnListQuerySchema(_Strict):
    """A page of the customer's requests, newest first."""

    before = fields.String(validate=_CURSOR, metadata={"description": "the previous 'next'"})
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )


class DsrQueueQuerySchema(_Strict):
    """The DPO's queue, oldest due first."""

    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "default: open and in_progress"},
    )
    kind = fields.String(validate=validate.OneOf(KINDS))
    overdue = fields.Boolean(
        load_default=False, metadata={"description": "only open requests past their due date"}
    )
    subject = fields.String(validate=validate.Regexp(r"^sub_[A-Za-z0-9_-]{22}$"))
    after = fields.String(validate=_CURSOR, metadata={"description": "the previous 'next'"})
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, validate=validate.Range(min=1, max=MAX_LIMIT)
    )


class DsrAuditPageQuerySchema(_Strict):
    """A later page of a copy's audit entries, against the copy's checkpoint."""

    tree_size = fields.Integer(
        required=True, strict=False, metadata={"description": "the copy's checkpoint tree_size"}
    )
    after = fields.Integer(
        required=True,
        strict=False,
        validate=validate.Range(min=0),
        metadata={"description": "next"},
    )
    limit = fields.Integer(
        load_default=AUDIT_PAGE, validate=validate.Range(min=1, max=MAX_AUDIT_PAGE)
    )


class DsrExportQuerySchema(_Strict):
    """How many audit entries the copy holds on its first page."""

    limit = fields.Integer(
        load_default=AUDIT_PAGE, validate=validate.Range(min=1, max=MAX_AUDIT_PAGE)
    )


class DsrCompleteSchema(_Strict):
    """Completing a request."""

    note = fields.String(
        validate=validate.Length(min=1, max=services.MAX_NOTE_LENGTH),
        metadata={"description": "checked for personal information (refused if any)"},
    )
    fields_ = fields.List(
        fields.String(validate=_NAME),
        data_key="fields",
        validate=validate.Length(min=1, max=100),
        metadata={"description": "correction: the fields corrected"},
    )


class DsrRejectSchema(_Strict):
    """Turning a request down."""

    reason = fields.String(required=True, validate=validate.OneOf(services.REJECT_REASONS))
    note = fields.String(validate=validate.Length(min=1, max=services.MAX_NOTE_LENGTH))


def _json(body: dict[str, Any], filename: str | None = None) -> Response:
    """A JSON document as it is (UTF-8, not re-serialised by a schema); a file if named."""
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'} if filename else {}
    response: Response = current_app.response_class(
        json.dumps(body, ensure_ascii=False, indent=1),
        mimetype="application/json",
        headers=headers,
    )
    return response


# -- the customer's own ----------------------------------------------------------------------


@blp.route("/subjects/<string:subject_id>/requests")
class OwnRequests(MethodView):
    """A customer's requests."""

    @requires(Permission.SUBJECT_REQUESTS_OWN)
    @blp.arguments(DsrCreateSchema)
    @blp.response(201, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """File a request; what the customer may do alone is done at once.

        ``access``, ``portability`` and ``explanation`` complete at once (download the
        answer from ``.../export`` or ``.../explanation``); ``restriction`` and
        ``restriction_lift`` take effect at once; a ``correction``'s ``values`` are written
        at once (catalog, PII guard) and its ``fields`` wait for the DPO; an ``erasure``
        (with ``confirm: true``) waits for the DPO. The due date is set by
        ``GOVERNANCE_SUBJECT_REQUEST_DUE_DAYS``.
        """
        submission = services.Submission(
            kind=body["kind"],
            reason=body.get("reason"),
            values=body.get("values"),
            fields=tuple(body.get("fields_") or ()),
            confirm=bool(body.get("confirm")),
        )
        session = get_session()
        row = services.submit(
            session,
            current_actor(),
            subject_id,
            submission,
            due_days=current_app.config["SUBJECT_REQUEST_DUE_DAYS"],
        )
        session.commit()
        return services.request_json(row)

    @requires(Permission.SUBJECT_REQUESTS_OWN)
    @blp.arguments(DsrOwnListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, DsrPageSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """The customer's requests with status and due date, newest first."""
        page = services.subject_requests(
            get_session(),
            current_actor(),
            subject_id,
            before=args.get("before"),
            limit=args["limit"],
        )
        return {"items": [services.request_json(r) for r in page.rows], "next": page.next}


@blp.route("/subjects/<string:subject_id>/requests/<string:request_id>")
class OwnRequest(MethodView):
    """One of a customer's requests."""

    @requires(Permission.SUBJECT_REQUESTS_OWN)
    @blp.response(200, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, subject_id: str, request_id: str) -> dict[str, Any]:
        """The request, its status and due date."""
        row = services.for_subject(get_session(), current_actor(), subject_id, request_id)
        return services.request_json(row)


@blp.route("/subjects/<string:subject_id>/requests/<string:request_id>/export")
class OwnExport(MethodView):
    """A customer's copy of their data."""

    @requires(Permission.SUBJECT_REQUESTS_OWN)
    @blp.arguments(DsrExportQuerySchema, location="query", unknown=RAISE)
    @blp.response(
        200,
        {"type": "object"},
        description="The copy (format governance-subject-export/1): profile values read "
        "through the guarded read, consent states, history and receipts, the exports that "
        "included the customer, their requests, and audit entries with inclusion proofs "
        "against a signed checkpoint (first page; 'audit.next' leads on).",
    )
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def get(self, args: dict[str, Any], subject_id: str, request_id: str) -> Response:
        """Download the answer to an access or portability request (a JSON file).

        Built at each download through the guarded read as the customer (purpose
        ``data_subject_access``), so each download is an audit entry of its own.
        """
        session = get_session()
        actor = current_actor()
        row = services.for_subject(session, actor, subject_id, request_id)
        body = build_export(
            session,
            actor,
            row,
            controller=current_app.config["CONTROLLER_NAME"],
            limit=args["limit"],
        )
        return _json(body, f"{row.id}-{row.kind}.json")


@blp.route("/subjects/<string:subject_id>/requests/<string:request_id>/export/audit")
class OwnExportAudit(MethodView):
    """Later pages of a copy's audit entries."""

    @requires(Permission.SUBJECT_REQUESTS_OWN)
    @blp.arguments(DsrAuditPageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, {"type": "object"})
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, args: dict[str, Any], subject_id: str, request_id: str) -> Response:
        """Audit entries about the customer after ``after``, proved against the copy's root."""
        session = get_session()
        row = services.for_subject(session, current_actor(), subject_id, request_id)
        if row.kind not in ("access", "portability") or row.status != "completed":
            raise ApiError("not-found", "This request has no copy to download.")
        signed = checkpoint_for_page(session, args["tree_size"])
        page = audit_page(session, subject_id, signed, after=args["after"], limit=args["limit"])
        return _json({"checkpoint": signed.to_json(), **page})


@blp.route("/subjects/<string:subject_id>/requests/<string:request_id>/explanation")
class OwnExplanation(MethodView):
    """How a customer's data is processed."""

    @requires(Permission.SUBJECT_REQUESTS_OWN)
    @blp.response(
        200,
        {"type": "object"},
        description="Purposes (legal basis, whether they apply now, recipients and "
        "countries, field categories), recipients, retention per field category; zh-CN "
        "and English.",
    )
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, subject_id: str, request_id: str) -> Response:
        """The answer to an explanation request (no profile value in it)."""
        session = get_session()
        row = services.for_subject(session, current_actor(), subject_id, request_id)
        if row.kind != "explanation":
            raise ApiError("not-found", "This request has no explanation.")
        return _json(explain(session, row, controller=current_app.config["CONTROLLER_NAME"]))


# -- the DPO's queue -------------------------------------------------------------------------


@blp.route("/requests")
class Queue(MethodView):
    """The DPO's queue."""

    @requires(Permission.SUBJECT_REQUESTS_MANAGE)
    @blp.arguments(DsrQueueQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, DsrPageSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Requests by due date (oldest first), filtered; keyset-paged with ``after``."""
        where = services.QueueFilter(
            status=args.get("status"),
            kind=args.get("kind"),
            overdue=args["overdue"],
            subject=args.get("subject"),
        )
        brand = current_actor().brand
        page = services.queue(
            get_session(), brand, where, after=args.get("after"), limit=args["limit"]
        )
        return {"items": [services.request_json(r) for r in page.rows], "next": page.next}


@blp.route("/requests/<string:request_id>")
class QueueItem(MethodView):
    """One request, for the DPO."""

    @requires(Permission.SUBJECT_REQUESTS_MANAGE)
    @blp.response(200, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, request_id: str) -> dict[str, Any]:
        """The request with its details and result."""
        row = services.visible_request(get_session(), current_actor(), request_id)
        return services.request_json(row)


@blp.route("/requests/<string:request_id>/start")
class Start(MethodView):
    """Taking a request on."""

    @requires(Permission.SUBJECT_REQUESTS_MANAGE)
    @blp.response(200, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, request_id: str) -> dict[str, Any]:
        """Mark an open request in progress (by the caller)."""
        session = get_session()
        row = services.transition(session, current_actor(), request_id, "in_progress")
        session.commit()
        return services.request_json(row)


@blp.route("/requests/<string:request_id>/complete")
class Complete(MethodView):
    """Completing a request."""

    @requires(Permission.SUBJECT_REQUESTS_MANAGE)
    @blp.arguments(DsrCompleteSchema)
    @blp.response(200, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Complete an open or in-progress request (not an erasure: execute that one)."""
        session = get_session()
        row = services.transition(
            session,
            current_actor(),
            request_id,
            "completed",
            note=body.get("note"),
            fields=tuple(body.get("fields_") or ()),
        )
        session.commit()
        return services.request_json(row)


@blp.route("/requests/<string:request_id>/reject")
class Reject(MethodView):
    """Turning a request down."""

    @requires(Permission.SUBJECT_REQUESTS_MANAGE)
    @blp.arguments(DsrRejectSchema)
    @blp.response(200, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any], request_id: str) -> dict[str, Any]:
        """Reject an open or in-progress request with a reason code (and a note)."""
        session = get_session()
        row = services.transition(
            session,
            current_actor(),
            request_id,
            "rejected",
            reason=body["reason"],
            note=body.get("note"),
        )
        session.commit()
        return services.request_json(row)


@blp.route("/requests/<string:request_id>/erase")
class Erase(MethodView):
    """Executing an erasure."""

    @requires(Permission.SUBJECT_REQUESTS_MANAGE)
    @blp.response(200, DsrSchema)
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, request_id: str) -> dict[str, Any]:
        """Erase the customer (crypto-shredding) and complete their erasure request.

        Needs a second factor entered in the last few minutes (``step-up-required``
        otherwise). Cannot be undone.
        """
        row = services.execute_erasure(get_session(), current_actor(), request_id)
        return services.request_json(row)


def init_app(app: Flask) -> None:
    """Register the requests API."""
    get_api(app).register_blueprint(blp)
