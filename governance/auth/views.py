"""Identity API: who am I, service API keys, portal links for customers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask, current_app, session
from flask.views import MethodView
from flask_wtf.csrf import generate_csrf
from sqlalchemy import select

from consent.catalog.models import Purpose
from governance.api import Blueprint, get_api
from governance.auth import services
from governance.auth.actors import current_actor
from governance.auth.models import ApiKey
from governance.auth.permissions import Permission, requires
from governance.auth.schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeySchema,
    PortalLinkRequestSchema,
    PortalLinkSchema,
    WhoAmISchema,
)
from governance.brands import brand_for_new, sees
from governance.db import get_session, utcnow
from governance.errors import ApiError
from governance.keys import portal_link_key
from governance.profiles.models import Subject

blp = Blueprint(
    "identity", __name__, url_prefix="/api/v1", description="Actors, API keys, portal links"
)


@blp.route("/whoami")
class WhoAmI(MethodView):
    """The request's actor."""

    @requires(Permission.AUTHENTICATED)
    @blp.response(200, WhoAmISchema)
    def get(self) -> dict[str, Any]:
        """Describe the authenticated actor."""
        actor = current_actor()
        out: dict[str, Any] = {
            "type": actor.type,
            "id": actor.id,
            "roles": sorted(actor.roles),
            "permissions": sorted(actor.permissions),
            "purposes": sorted(actor.purposes),
            "brand": actor.brand,
        }
        if actor.via_cookie:
            out["csrf_token"] = generate_csrf()
        return out


@blp.route("/api-keys")
class ApiKeys(MethodView):
    """Service API keys."""

    @requires(Permission.API_KEYS_MANAGE)
    @blp.response(200, ApiKeySchema(many=True))
    def get(self) -> list[ApiKey]:
        """List keys, newest first (never their secrets)."""
        stmt = select(ApiKey).order_by(ApiKey.created_at.desc()).limit(1000)
        brand = current_actor().brand
        if brand is not None:
            stmt = stmt.where(ApiKey.brand_id == brand)
        return list(get_session().scalars(stmt))

    @requires(Permission.API_KEYS_MANAGE)
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a key scoped to purposes; the token is in this response only."""
        db = get_session()
        actor = current_actor()
        known = set(db.scalars(select(Purpose.id)))
        brand = brand_for_new(db, actor.brand, body.get("brand"))
        new = services.create_api_key(
            db,
            body["name"],
            body["purposes"],
            body["permissions"],
            known,
            created_by=int(actor.id) if actor.type == "operator" else None,
            brand=brand,
        )
        db.commit()
        return {**new.key.to_public(), "token": new.token}


@blp.route("/api-keys/<key_id>")
class ApiKeyItem(MethodView):
    """One API key."""

    @requires(Permission.API_KEYS_MANAGE)
    @blp.response(200, ApiKeySchema)
    def delete(self, key_id: str) -> ApiKey:
        """Revoke the key at once; it is kept (revoked) for the record."""
        db = get_session()
        key = services.revoke_api_key(db, key_id, current_actor().brand)
        db.commit()
        return key


@blp.route("/portal-links")
class PortalLinks(MethodView):
    """One-time links into the consent portal."""

    @requires(Permission.PORTAL_LINKS_ISSUE)
    @blp.arguments(PortalLinkRequestSchema)
    @blp.response(201, PortalLinkSchema)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Sign a short-lived, single-use link for a customer; send it to them yourself."""
        db = get_session()
        subject = db.get(Subject, body["subject_id"])
        if (
            subject is None
            or subject.erased_at is not None
            or not sees(current_actor().brand, subject.brand_id)
        ):
            raise ApiError("not-found", "No such subject.")
        token = services.issue_portal_token(subject.id, portal_link_key())
        ttl = current_app.config["PORTAL_LINK_TTL_SECONDS"]
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        return {
            "url": f"{base}/portal/enter?token={token}",
            "expires_at": utcnow() + dt.timedelta(seconds=ttl),
        }


def start_operator_session(operator_id: int) -> None:
    """Replace whatever session there was with an operator's, second factor just verified."""
    minutes = current_app.config["OPERATOR_SESSION_MINUTES"]
    session.clear()
    session.update(
        actor_type="operator",
        actor_id=operator_id,
        expires_at=services.session_expiry(minutes),
        mfa_at=int(utcnow().timestamp()),
    )


def start_subject_session(subject_id: str) -> None:
    """Replace whatever session there was with a customer's portal session."""
    minutes = current_app.config["PORTAL_SESSION_MINUTES"]
    session.clear()
    session.update(
        actor_type="subject", actor_id=subject_id, expires_at=services.session_expiry(minutes)
    )


def init_app(app: Flask) -> None:
    """Register the identity API."""
    get_api(app).register_blueprint(blp)
