"""Consent API: record decisions, check consent (one subject or 10,000), state and history.

Who may do what:

- a customer (portal session) decides, reads their state, history and receipts, for
  themselves only;
- a service holding ``consent:write`` relays a customer's (or guardian's) decision made in
  its channel (mini-program, WeCom, store, API), and one holding ``consent:check`` asks
  whether consent is valid; either only for purposes its key is scoped to;
- an operator holding ``consent:write`` records a decision on a customer's documented
  behalf (customer service, with the hash of the evidence); ``consent:read`` (DPO,
  customer service) reads any subject's state and history.

Services and operators of one brand see only that brand's subjects: another brand's subject
is answered exactly as one that does not exist (404, or ``unknown_subject`` in a check).

The rules themselves are in :mod:`consent.ledger`; the views parse, authorise and commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from consent import ledger
from consent.models import ACTED_BY, CHANNELS, ConsentEvent
from consent.tiers import Tier
from governance.api import Blueprint
from governance.auth.actors import Actor, current_actor
from governance.auth.permissions import Permission, requires
from governance.db import get_session
from governance.errors import ApiError

blp = Blueprint(
    "consent",
    __name__,
    url_prefix="/api/v1/consent",
    description="The consent ledger: decisions, checks, state, history and receipts",
)

MAX_BATCH = 10_000
_SUBJECT_ID = r"^sub_[A-Za-z0-9_-]{22}$"
_PURPOSE = r"^[a-z][a-z0-9_]{0,63}$"
_HEX64 = r"^[0-9a-f]{64}$"
_TIERS = [t.value for t in Tier]
#: Channels a service relays decisions from; the portal is the customer's own session.
SERVICE_CHANNELS = tuple(c for c in CHANNELS if c != "portal")


# -- schemas ---------------------------------------------------------------------------------


class DecisionSchema(Schema):
    """A grant, withdrawal or refusal of one or more purposes."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE

    kind = fields.String(required=True, validate=validate.OneOf(ledger.DECISIONS))
    purposes = fields.List(
        fields.String(validate=validate.Regexp(_PURPOSE)),
        required=True,
        validate=validate.Length(min=1, max=20),
        metadata={"description": "a purpose needing separate consent must be alone"},
    )
    tier = fields.String(validate=validate.OneOf(_TIERS), metadata={"description": "grants"})
    notice_version = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "the privacy-notice version shown (grants)"},
    )
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    acted_by = fields.String(
        validate=validate.OneOf(ACTED_BY),
        metadata={"description": "default: subject (operator for operators)"},
    )
    evidence_sha256 = fields.String(
        validate=validate.Regexp(_HEX64),
        metadata={"description": "SHA-256 of the exact text and choices shown (grants)"},
    )
    guardian_evidence_sha256 = fields.String(validate=validate.Regexp(_HEX64))
    behalf_evidence_sha256 = fields.String(validate=validate.Regexp(_HEX64))
    valid_until = fields.AwareDateTime(format="iso")


class EventSchema(Schema):
    """One recorded consent event."""

    id = fields.Integer()
    subject = fields.String(attribute="subject_id")
    purpose = fields.String()
    kind = fields.String()
    tier = fields.String(allow_none=True)
    notice_version = fields.String(allow_none=True)
    channel = fields.String()
    acted_by = fields.String()
    occurred_at = fields.DateTime()
    valid_until = fields.DateTime(allow_none=True)
    receipt_id = fields.String(allow_none=True)
    audit_seq = fields.Integer(metadata={"description": "the audit entry recording it"})


class RecordedSchema(Schema):
    """What a decision wrote."""

    events = fields.List(fields.Nested(EventSchema))
    unchanged = fields.List(
        fields.String(), metadata={"description": "purposes already in that state"}
    )


class CheckSchema(Schema):
    """The question: is this subject's consent valid for this purpose at this tier."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE

    subject = fields.String(required=True, validate=validate.Regexp(_SUBJECT_ID))
    purpose = fields.String(required=True, validate=validate.Regexp(_PURPOSE))
    tier = fields.String(load_default="basic", validate=validate.OneOf(_TIERS))


class BatchCheckSchema(Schema):
    """The same question for up to 10,000 subjects."""

    class Meta:
        """Refuse unknown fields."""

        unknown = RAISE

    subjects = fields.List(
        fields.String(validate=validate.Regexp(_SUBJECT_ID)),
        required=True,
        validate=validate.Length(min=1, max=MAX_BATCH),
    )
    purpose = fields.String(required=True, validate=validate.Regexp(_PURPOSE))
    tier = fields.String(load_default="basic", validate=validate.OneOf(_TIERS))


class AnswerSchema(Schema):
    """One answer."""

    subject = fields.String()
    valid = fields.Boolean()
    reason = fields.String(metadata={"description": ", ".join(ledger.CHECK_REASONS)})
    at = fields.String(allow_none=True, metadata={"description": "when withdrawn, expired..."})
    tier = fields.String(allow_none=True, metadata={"description": "the tier granted"})
    notice_version = fields.String(allow_none=True)


class BatchAnswerSchema(Schema):
    """Answers, in the order asked."""

    purpose = fields.String()
    tier = fields.String()
    results = fields.List(fields.Nested(AnswerSchema))


class StateSchema(Schema):
    """Where the subject stands for one purpose."""

    purpose = fields.String()
    status = fields.String()
    valid = fields.Boolean(metadata={"description": "whether a check at its tier passes now"})
    reason = fields.String()
    tier = fields.String(allow_none=True)
    notice_version = fields.String(allow_none=True)
    by_guardian = fields.Boolean()
    valid_until = fields.String(allow_none=True)
    changed_at = fields.String()


class SubjectStateSchema(Schema):
    """The subject's consent, purpose by purpose."""

    subject = fields.String()
    personalised_recommendation = fields.Boolean(
        metadata={
            "description": "PIPL art. 24: false unless the subject allows personalised "
            "recommendation; send non-personalised results then"
        }
    )
    purposes = fields.List(fields.Nested(StateSchema))


class HistoryQuerySchema(Schema):
    """A keyset page of events."""

    class Meta:
        """Refuse unknown parameters."""

        unknown = RAISE

    before = fields.Integer(validate=validate.Range(min=1))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


class HistorySchema(Schema):
    """Events, newest first."""

    items = fields.List(fields.Nested(EventSchema))
    next = fields.String(allow_none=True, metadata={"description": "pass as 'before'"})


# -- who may do what -------------------------------------------------------------------------


def _forbid(detail: str) -> ApiError:
    return ApiError("forbidden", detail)


def _in_scope(actor: Actor, purposes: list[str]) -> None:
    """A service acts only for the purposes its key is scoped to."""
    if actor.type == "service":
        outside = sorted(set(purposes) - actor.purposes)
        if outside:
            raise _forbid(f"This API key is not scoped to: {', '.join(outside)}.")


def _decider(actor: Actor, subject_id: str, args: dict[str, Any]) -> tuple[str, str]:
    """(acted_by, actor_id) for a decision by ``actor``, or 403."""
    acted_by = args.get("acted_by")
    channel = args["channel"]
    if actor.type == "subject":
        if actor.id != subject_id:
            raise _forbid("A customer decides only for themselves.")
        if channel != "portal" or acted_by not in (None, "subject", "guardian"):
            raise _forbid("In the portal a customer or their guardian decides (channel portal).")
        return acted_by or "subject", actor.id
    if actor.type == "service":
        _in_scope(actor, args["purposes"])
        if channel not in SERVICE_CHANNELS or acted_by not in (None, "subject", "guardian"):
            raise _forbid(
                "A service relays a decision the customer or guardian made in its channel "
                f"({', '.join(SERVICE_CHANNELS)})."
            )
        return acted_by or "subject", actor.id
    if actor.type == "operator":
        if acted_by not in (None, "operator") or channel == "portal":
            raise _forbid("An operator records decisions as 'operator', with evidence.")
        return "operator", actor.id
    raise _forbid("Only customers, services and operators record consent.")


def _reader(actor: Actor, subject_id: str) -> None:
    """The subject themselves, or ``consent:read`` (for a subject of the actor's brand)."""
    if actor.type == "subject" and actor.id == subject_id:
        return
    if actor.can(Permission.CONSENT_READ):
        ledger.require_subject(get_session(), subject_id, actor.brand)
        return
    raise _forbid("Reading consent needs 'consent:read', or to be that customer.")


def receipt_issuer(session: Any) -> Callable[[ConsentEvent, Any], None]:
    """What the ledger calls to sign each grant's and withdrawal's receipt."""
    from consent import receipts
    from consent.catalog.services import list_fields

    signer = receipts.get_signer()
    controller = current_app.config["CONTROLLER_NAME"]
    catalog_fields = list_fields(session)

    def issue(event: ConsentEvent, purpose: Any) -> None:
        receipts.issue(
            event, purpose, signer=signer, controller=controller, catalog_fields=catalog_fields
        )

    return issue


# -- endpoints -------------------------------------------------------------------------------


@blp.route("/subjects/<string:subject_id>/decisions")
class Decisions(MethodView):
    """Consent decisions of one subject."""

    @requires(Permission.CONSENT_WRITE)
    @blp.arguments(DecisionSchema)
    @blp.response(201, RecordedSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, args: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Grant, withdraw or refuse; each purpose becomes one event with its receipt.

        Refusals of the PIPL rules answer ``/problems/consent-refused`` with a ``reason``.
        Withdrawing a purpose that is not granted changes nothing and is reported under
        ``unchanged``.
        """
        actor = current_actor()
        acted_by, actor_id = _decider(actor, subject_id, args)
        change = ledger.Change(
            subject=subject_id,
            purposes=tuple(args["purposes"]),
            kind=args["kind"],
            channel=args["channel"],
            acted_by=acted_by,
            actor_id=actor_id,
            tier=args.get("tier"),
            notice_version=args.get("notice_version"),
            evidence_sha256=args.get("evidence_sha256"),
            guardian_evidence_sha256=args.get("guardian_evidence_sha256"),
            behalf_evidence_sha256=args.get("behalf_evidence_sha256"),
            valid_until=args.get("valid_until"),
            brand=actor.brand,
        )
        session = get_session()
        recorded = ledger.record(session, change, receipts=receipt_issuer(session))
        session.commit()
        return {"events": recorded.events, "unchanged": recorded.unchanged}


@blp.route("/check")
class Check(MethodView):
    """Consent checks."""

    @requires(Permission.CONSENT_CHECK)
    @blp.arguments(CheckSchema)
    @blp.response(200, AnswerSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Is this subject's consent valid for the purpose at the tier, and if not, why."""
        actor = current_actor()
        _in_scope(actor, [args["purpose"]])
        answer = ledger.check(
            get_session(), args["subject"], args["purpose"], Tier(args["tier"]), brand=actor.brand
        )
        return answer.to_json()


@blp.route("/check/batch")
class BatchCheck(MethodView):
    """Consent checks, many at once."""

    @requires(Permission.CONSENT_CHECK)
    @blp.arguments(BatchCheckSchema)
    @blp.response(200, BatchAnswerSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """The same question for up to 10,000 subjects; answers in the order asked."""
        actor = current_actor()
        _in_scope(actor, [args["purpose"]])
        answers = ledger.check_many(
            get_session(), args["subjects"], args["purpose"], Tier(args["tier"]), brand=actor.brand
        )
        return {
            "purpose": args["purpose"],
            "tier": args["tier"],
            "results": [a.to_json() for a in answers],
        }


@blp.route("/subjects/<string:subject_id>/state")
class SubjectState(MethodView):
    """A subject's consent state."""

    @requires(Permission.AUTHENTICATED)
    @blp.response(200, SubjectStateSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, subject_id: str) -> dict[str, Any]:
        """Every purpose the subject decided on, with whether a check passes now.

        Also for services holding ``consent:check``, limited to their purposes: this is
        how a recommender learns to send non-personalised results (PIPL art. 24).
        """
        actor = current_actor()
        session = get_session()
        scope: frozenset[str] | None = None
        if actor.type == "service" and actor.can(Permission.CONSENT_CHECK):
            scope = actor.purposes
            ledger.require_subject(session, subject_id, actor.brand)
        else:
            _reader(actor, subject_id)
        rows = [
            s for s in ledger.states(session, subject_id) if scope is None or s.purpose in scope
        ]
        purposes = []
        allowed = False
        for state in rows:
            answer = ledger.check(
                session, subject_id, state.purpose, Tier(state.tier or Tier.BASIC.value)
            )
            if state.purpose == "personalised_recommendation":
                allowed = answer.valid
            purposes.append(
                {
                    "purpose": state.purpose,
                    "status": state.status,
                    "valid": answer.valid,
                    "reason": answer.reason,
                    "tier": state.tier,
                    "notice_version": state.notice_version,
                    "by_guardian": state.by_guardian,
                    "valid_until": None
                    if state.valid_until is None
                    else ledger.as_utc(state.valid_until).isoformat(),
                    "changed_at": ledger.as_utc(state.changed_at).isoformat(),
                }
            )
        return {
            "subject": subject_id,
            "personalised_recommendation": allowed,
            "purposes": purposes,
        }


@blp.route("/subjects/<string:subject_id>/history")
class History(MethodView):
    """A subject's consent history."""

    @requires(Permission.AUTHENTICATED)
    @blp.arguments(HistoryQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, HistorySchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], subject_id: str) -> dict[str, Any]:
        """Every decision: what, when, which notice, which channel, who acted; newest first."""
        _reader(current_actor(), subject_id)
        limit = args["limit"]
        events = ledger.history(
            get_session(), subject_id, before=args.get("before"), limit=limit + 1
        )
        more = len(events) > limit
        events = events[:limit]
        return {"items": events, "next": str(events[-1].id) if more else None}


@blp.route("/receipts/<string:receipt_id>")
class Receipt(MethodView):
    """A consent receipt."""

    @requires(Permission.AUTHENTICATED)
    @blp.response(
        200,
        {"type": "string"},
        content_type="application/jose",
        description="The receipt as a compact JWS (EdDSA); verify it with the JWKS at "
        "/.well-known/governance-consent-jwks.json.",
    )
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, receipt_id: str) -> Any:
        """The signed receipt of one grant or withdrawal.

        A customer gets their own; ``consent:read`` gets any.
        """
        session = get_session()
        event = session.scalar(select(ConsentEvent).where(ConsentEvent.receipt_id == receipt_id))
        actor = current_actor()
        if event is None or not (
            (actor.type == "subject" and actor.id == event.subject_id)
            or (
                actor.can(Permission.CONSENT_READ)
                and ledger.visible_subject(session, event.subject_id, actor.brand) is not None
            )
        ):
            raise ApiError("not-found", "No such receipt.")
        return current_app.response_class(
            event.receipt_jws,
            mimetype="application/jose",
            headers={"Content-Disposition": f'attachment; filename="{receipt_id}.jws"'},
        )
