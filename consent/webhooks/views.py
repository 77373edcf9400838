"""Webhooks API: consent-change subscriptions and the dead letters the DPO handles.

Every endpoint needs ``webhooks:manage`` (the DPO and administrators). A subscription's
secret is in the creation response only. Changes are audit entries; bad input is a 422
problem with nothing written.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask.views import MethodView
from marshmallow import RAISE, Schema, fields, validate

from consent.webhooks import services
from consent.webhooks.models import OutboxMessage, WebhookSubscription
from governance.api import Blueprint, get_api
from governance.auth.actors import current_actor
from governance.auth.permissions import Permission, requires
from governance.brands import brand_for_new
from governance.db import get_session
from governance.profiles.crypto import profile_crypto

blp = Blueprint(
    "consent_webhooks",
    __name__,
    url_prefix="/api/v1/consent/webhooks",
    description="Consent-change webhooks: subscriptions and dead letters",
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class SubscriptionCreateSchema(Schema):
    """A new subscription."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    url = fields.String(
        required=True,
        validate=validate.Length(min=1, max=2048),
        metadata={"description": "https (http only to loopback in production)"},
    )
    purposes = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "purpose ids of the catalog whose changes are sent"},
    )
    brand = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={"description": "whose subjects' changes are sent; default: your brand"},
    )


class SubscriptionSchema(Schema):
    """A subscription as listed (never its secret)."""

    id = fields.String(metadata={"description": "whs_...; the first half of Idempotency-Key"})
    name = fields.String()
    url = fields.String()
    brand = fields.String()
    purposes = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.DateTime()
    created_by = fields.Integer(allow_none=True, metadata={"description": "operator id"})
    deactivated_at = fields.DateTime(allow_none=True)


class SubscriptionCreatedSchema(SubscriptionSchema):
    """A new subscription with its signing secret: shown in this response only."""

    secret = fields.String(
        metadata={"description": "whsec_...; the HMAC key of X-Governance-Signature. Shown once."}
    )


class DeadLetterQuerySchema(Schema):
    """Filters and paging of the dead letters."""

    subscription = fields.String(
        validate=validate.Length(min=1, max=32), metadata={"description": "one subscription"}
    )
    after = fields.Integer(
        validate=validate.Range(min=0), metadata={"description": "cursor: the previous 'next'"}
    )
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"},
    )


class MessageSchema(Schema):
    """A webhook message (ids only; the payload is the subscriber's business)."""

    id = fields.Integer()
    subscription_id = fields.String()
    event_id = fields.Integer(metadata={"description": "the consent event"})
    subject_id = fields.String(metadata={"description": "opaque subject id"})
    purpose = fields.String()
    status = fields.String(metadata={"description": "pending, delivered, dead or discarded"})
    attempts = fields.Integer()
    last_status = fields.Integer(allow_none=True, metadata={"description": "HTTP status"})
    last_error = fields.String(
        allow_none=True, metadata={"description": "http_<status>, timeout, connection_refused..."}
    )
    last_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    idempotency_key = fields.Method("_key")

    def _key(self, message: Any) -> str:
        if isinstance(message, dict):
            return str(message["idempotency_key"])
        return services.idempotency_key(message.subscription_id, message.event_id)


class DeadLetterSchema(MessageSchema):
    """A dead message and how many later ones for its subject wait behind it."""

    held_back = fields.Integer(
        metadata={"description": "pending messages for the same subscription and subject"}
    )


class DeadLetterPageSchema(Schema):
    """A page of dead letters, oldest first."""

    items = fields.List(fields.Nested(DeadLetterSchema))
    next = fields.Integer(allow_none=True, metadata={"description": "pass as 'after'"})


@blp.route("/subscriptions")
class Subscriptions(MethodView):
    """Subscriptions to consent changes."""

    @requires(Permission.WEBHOOKS_MANAGE)
    @blp.response(200, SubscriptionSchema(many=True))
    def get(self) -> list[WebhookSubscription]:
        """Every subscription, newest first (never a secret)."""
        return services.list_subscriptions(get_session(), brand=current_actor().brand)

    @requires(Permission.WEBHOOKS_MANAGE)
    @blp.arguments(SubscriptionCreateSchema)
    @blp.response(201, SubscriptionCreatedSchema)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Subscribe a URL to changes of some purposes; the secret is in this response only."""
        db = get_session()
        actor = current_actor()
        new = services.create_subscription(
            db,
            name=body["name"],
            url=body["url"],
            purposes=body["purposes"],
            keyring=profile_crypto().keyring,
            production=current_app.config["ENV"] == "production",
            created_by=int(actor.id) if actor.type == "operator" else None,
            brand=brand_for_new(db, actor.brand, body.get("brand")),
        )
        db.commit()
        return {**new.subscription.to_public(), "secret": new.secret}


@blp.route("/subscriptions/<string:subscription_id>")
class SubscriptionItem(MethodView):
    """One subscription."""

    @requires(Permission.WEBHOOKS_MANAGE)
    @blp.response(200, SubscriptionSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def delete(self, subscription_id: str) -> WebhookSubscription:
        """Deactivate at once (kept for the record); its undelivered messages are discarded."""
        db = get_session()
        subscription = services.deactivate_subscription(
            db, subscription_id, brand=current_actor().brand
        )
        db.commit()
        return subscription


@blp.route("/dead-letters")
class DeadLetters(MethodView):
    """Messages whose every attempt failed."""

    @requires(Permission.WEBHOOKS_MANAGE)
    @blp.arguments(DeadLetterQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, DeadLetterPageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Dead letters, oldest first; each holds back its subject's later messages."""
        page = services.dead_letters(
            get_session(),
            subscription_id=args.get("subscription"),
            after=args.get("after"),
            limit=args["limit"],
            brand=current_actor().brand,
        )
        return {"items": page.items, "next": page.next}


@blp.route("/dead-letters/<int:message_id>/retry")
class DeadLetterRetry(MethodView):
    """Send a dead letter again."""

    @requires(Permission.WEBHOOKS_MANAGE)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, message_id: int) -> OutboxMessage:
        """Queue it again, due now, with a fresh count of attempts."""
        db = get_session()
        message = services.retry_dead_letter(db, message_id, brand=current_actor().brand)
        db.commit()
        return message


@blp.route("/dead-letters/<int:message_id>/discard")
class DeadLetterDiscard(MethodView):
    """Give a dead letter up."""

    @requires(Permission.WEBHOOKS_MANAGE)
    @blp.response(200, MessageSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    @blp.alt_response(409, response="CONFLICT")
    def post(self, message_id: int) -> OutboxMessage:
        """Never send it; later messages for its subject go ahead."""
        db = get_session()
        message = services.discard_dead_letter(db, message_id, brand=current_actor().brand)
        db.commit()
        return message


def init_app(app: Flask) -> None:
    """Register the webhooks API."""
    get_api(app).register_blueprint(blp)
