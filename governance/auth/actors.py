"""Who is making this request: exactly one actor, resolved before any view runs.

Resolution order: an ``Authorization`` header means a service API key and nothing else
(a cookie is then ignored); otherwise the signed session cookie names an operator or a
subject (never both: starting one session clears the other); otherwise the actor is
anonymous. The endpoint's declared permission is then checked, and cookie-authenticated
requests that change state must carry a CSRF token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from flask import Response, current_app, g, request, session
from flask_wtf.csrf import ValidationError, validate_csrf
from sqlalchemy.orm import Session

from governance.auth.models import ApiKey, Operator
from governance.auth.permissions import (
    BUILTIN_PUBLIC_ENDPOINTS,
    PUBLIC,
    SUBJECT_PERMISSIONS,
    Permission,
    Role,
    declared_permission,
    permissions_for_roles,
)
from governance.db import get_session, utcnow
from governance.errors import ApiError

ActorType = Literal["operator", "service", "subject", "partner", "anonymous"]
API_KEY_PREFIX = "gk_"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_LAST_USED_GRANULARITY = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Actor:
    """The one actor of a request."""

    type: ActorType
    id: str
    permissions: frozenset[Permission] = frozenset()
    roles: frozenset[Role] = frozenset()
    purposes: frozenset[str] = frozenset()  # a service's purpose scope
    # The brand acted for (governance.brands); None: the whole group, or a customer (who
    # only ever sees themselves).
    brand: str | None = None
    mfa_at: dt.datetime | None = None  # last TOTP verification (operators)
    via_cookie: bool = False
    # A partner's data-sharing agreement as the policies read it (id, purposes, categories,
    # valid_from, valid_until, approved); set by federated.governance for its runs.
    agreement: Mapping[str, Any] | None = field(default=None, compare=False)
    display_name: str = field(default="", compare=False)

    def can(self, permission: Permission) -> bool:
        """True if this actor holds ``permission``."""
        return permission in self.permissions

    def mfa_within(self, minutes: int) -> bool:
        """True if the operator entered a TOTP code in the last ``minutes``."""
        return self.mfa_at is not None and utcnow() - self.mfa_at <= dt.timedelta(minutes=minutes)


ANONYMOUS = Actor(type="anonymous", id="anonymous")

#: Sensitive operations (an erasure, approving an agreement, audit details and exports,
#: the self-check report) need a TOTP code entered this recently: a step-up.
STEP_UP_MINUTES = 5


def require_step_up(actor: Actor, what: str) -> None:
    """Refuse (``step-up-required``) unless ``actor`` is an operator with a fresh TOTP code.

    ``what`` names the operation in the refusal, e.g. "An erasure".
    """
    if actor.type != "operator" or not actor.mfa_within(STEP_UP_MINUTES):
        raise ApiError(
            "step-up-required",
            f"{what} needs a second factor entered in the last {STEP_UP_MINUTES} minutes "
            "(/console/step-up).",
        )


def current_actor() -> Actor:
    """The actor of the current request."""
    actor: Actor = g.get("actor", ANONYMOUS)
    return actor


def hash_api_secret(secret: str) -> str:
    """SHA-256 of an API key's secret part (256 random bits: a slow hash adds nothing)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _actor_from_api_key(db: Session, header: str) -> Actor:
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(API_KEY_PREFIX):
        raise ApiError("invalid-credentials", "Expected 'Authorization: Bearer gk_...'.")
    key_id, _, secret = token.strip().rpartition(".")
    key = db.get(ApiKey, key_id) if key_id and secret else None
    if key is None or not hmac.compare_digest(key.secret_hash, hash_api_secret(secret)):
        raise ApiError("invalid-credentials", "The API key is not valid.")
    if key.revoked_at is not None:
        raise ApiError("invalid-credentials", "The API key has been revoked.")
    g.api_key_id = key.id
    return Actor(
        type="service",
        id=key.id,
        permissions=frozenset(Permission(p) for p in key.permissions) | {Permission.AUTHENTICATED},
        purposes=frozenset(key.purposes),
        brand=key.brand_id,
        display_name=key.name,
    )


def _session_time(key: str) -> dt.datetime | None:
    raw = session.get(key)
    return dt.datetime.fromtimestamp(raw, dt.UTC) if isinstance(raw, int | float) else None


def _actor_from_session(db: Session) -> Actor:
    kind = session.get("actor_type")
    expires = _session_time("expires_at")
    if kind is None:
        return ANONYMOUS
    if expires is None or expires <= utcnow():
        session.clear()
        return ANONYMOUS
    if kind == "operator":
        operator = db.get(Operator, session.get("actor_id"))
        if operator is None or operator.disabled_at is not None:
            session.clear()
            return ANONYMOUS
        roles = frozenset(Role(r) for r in operator.roles)
        return Actor(
            type="operator",
            id=str(operator.id),
            roles=roles,
            permissions=permissions_for_roles(roles),
            mfa_at=_session_time("mfa_at"),
            brand=operator.brand_id,
            via_cookie=True,
            display_name=operator.display_name,
        )
    if kind == "subject":
        return Actor(
            type="subject",
            id=str(session.get("actor_id")),
            permissions=SUBJECT_PERMISSIONS,
            via_cookie=True,
        )
    session.clear()
    return ANONYMOUS


def authenticate_and_authorize() -> None:
    """Resolve the actor, then enforce the endpoint's declared permission and CSRF."""
    g.actor = ANONYMOUS
    if request.endpoint is None:
        return  # unknown route or method: the 404/405 handler answers
    view = current_app.view_functions[request.endpoint]
    declared = declared_permission(view, request.method)
    if declared is None and request.endpoint in BUILTIN_PUBLIC_ENDPOINTS:
        declared = PUBLIC
    db = get_session()
    header = request.headers.get("Authorization")
    actor = _actor_from_api_key(db, header) if header else _actor_from_session(db)
    g.actor = actor
    if request.method not in _SAFE_METHODS and not header:
        is_page = not request.path.startswith("/api/")
        if actor.via_cookie or is_page:
            try:
                validate_csrf(request.headers.get("X-CSRFToken") or request.form.get("csrf_token"))
            except ValidationError:
                raise ApiError(
                    "csrf-failed", "The CSRF token is missing or invalid; reload the page."
                ) from None
    if declared is None:
        current_app.logger.error(
            "endpoint declares no permission", extra={"endpoint": request.endpoint}
        )
        raise ApiError("forbidden", "This endpoint declares no permission; refused.")
    if declared is PUBLIC:
        return
    if actor.type == "anonymous":
        raise ApiError("unauthenticated", "Authentication is required for this endpoint.")
    if not isinstance(declared, Permission) or not actor.can(declared):
        raise ApiError("forbidden", f"This endpoint needs the permission '{declared}'.")


def record_api_key_use(response: Response) -> Response:
    """After a successful request, note when the API key was last used (once a minute)."""
    key_id = g.get("api_key_id")
    if key_id is None or response.status_code >= 400:
        return response
    db = get_session()
    key = db.get(ApiKey, key_id)
    now = utcnow()
    if key is not None and (
        key.last_used_at is None or now - key.last_used_at > _LAST_USED_GRANULARITY
    ):
        key.last_used_at = now
        db.commit()
    return response
