"""Operator, API-key and portal-link services. They receive a session and never commit."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import pyotp
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from governance.auth import signals
from governance.auth.actors import API_KEY_PREFIX, hash_api_secret
from governance.auth.models import ApiKey, Operator, PortalLinkRedemption
from governance.auth.permissions import SERVICE_DEFAULT, SERVICE_GRANTABLE, Permission, Role
from governance.brands import DEFAULT_BRAND, require_brand, sees
from governance.db import utcnow
from governance.errors import ApiError
from governance.keys import Keyring

MIN_PASSWORD_LENGTH = 12
TOTP_ISSUER = "Privacy governance"
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password-0000")


# -- operators -----------------------------------------------------------------------------


def _check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ApiError(
            "validation-error",
            f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.",
            errors={"password": [f"Shorter than {MIN_PASSWORD_LENGTH} characters."]},
        )


def set_password(operator: Operator, password: str) -> None:
    """Give ``operator`` a new password (scrypt hash)."""
    _check_password_strength(password)
    operator.password_hash = generate_password_hash(password, method="scrypt")


def create_operator(
    db: Session,
    username: str,
    password: str,
    roles: list[str],
    display_name: str = "",
    brand: str | None = None,
) -> Operator:
    """Create an operator with a scrypt password hash, of one ``brand`` or (None) the group."""
    _check_password_strength(password)
    if brand is not None:
        require_brand(db, brand)
    bad = [r for r in roles if r not in {role.value for role in Role}]
    if bad or not roles:
        raise ApiError(
            "validation-error",
            "Unknown or missing role.",
            errors={"roles": [f"Choose from: {', '.join(r.value for r in Role)}."]},
        )
    if db.scalar(select(Operator.id).where(Operator.username == username)) is not None:
        raise ApiError("conflict", f"An operator named {username!r} already exists.")
    operator = Operator(
        username=username,
        display_name=display_name or username,
        roles=sorted(set(roles)),
        brand_id=brand,
    )
    set_password(operator, password)
    db.add(operator)
    db.flush()
    return operator


def verify_password(db: Session, username: str, password: str) -> Operator | None:
    """Return the operator if the password matches; None otherwise (constant effort)."""
    operator = db.scalar(select(Operator).where(Operator.username == username))
    if operator is None or operator.disabled_at is not None:
        check_password_hash(_DUMMY_HASH, password)
        signals.login_failed.send(None, username_known=False, reason="unknown-or-disabled")
        return None
    if not check_password_hash(operator.password_hash, password):
        signals.login_failed.send(None, operator_id=operator.id, reason="wrong-password")
        return None
    return operator


def _totp_aad(operator: Operator) -> bytes:
    return f"operator-totp:{operator.id}".encode()


def start_totp_enrolment(operator: Operator, keyring: Keyring) -> str:
    """Give the operator a new (unconfirmed) TOTP secret; return its otpauth URI."""
    secret = pyotp.random_base32()
    operator.totp_secret_wrapped = keyring.wrap(secret.encode(), _totp_aad(operator))
    operator.totp_enabled_at = None
    operator.last_totp_step = None
    return pyotp.TOTP(secret).provisioning_uri(name=operator.username, issuer_name=TOTP_ISSUER)


def totp_secret(operator: Operator, keyring: Keyring) -> str:
    """The operator's TOTP secret, unwrapped (for enrolment display and demo tooling)."""
    if operator.totp_secret_wrapped is None:
        raise ApiError("conflict", "This operator has no TOTP secret; enrol first.")
    return keyring.unwrap(operator.totp_secret_wrapped, _totp_aad(operator)).decode()


def verify_totp(operator: Operator, code: str, keyring: Keyring) -> bool:
    """Check a 6-digit code (±1 step); each time step is accepted only once."""
    if operator.totp_secret_wrapped is None or not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(totp_secret(operator, keyring))
    now = utcnow()
    current_step = totp.timecode(now)
    for offset in (-1, 0, 1):
        step = current_step + offset
        if step <= (operator.last_totp_step or -1):
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            operator.last_totp_step = step
            if operator.totp_enabled_at is None:
                operator.totp_enabled_at = now
            return True
    signals.login_failed.send(None, operator_id=operator.id, reason="wrong-totp")
    return False


# -- API keys ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewApiKey:
    """A created key and its full token, which is shown once and never stored."""

    key: ApiKey
    token: str


def create_api_key(
    db: Session,
    name: str,
    purposes: list[str],
    permissions: list[str] | None,
    known_purposes: set[str],
    created_by: int | None = None,
    brand: str = DEFAULT_BRAND,
) -> NewApiKey:
    """Create a key of ``brand`` scoped to ``purposes``; the token is ``gk_<id>.<secret>``."""
    require_brand(db, brand)
    unknown = sorted(set(purposes) - known_purposes)
    if unknown:
        raise ApiError(
            "validation-error",
            "Some purposes are not in the catalog.",
            errors={"purposes": [f"Unknown purpose: {p}" for p in unknown]},
        )
    wanted = set(permissions) if permissions is not None else {p.value for p in SERVICE_DEFAULT}
    refused = sorted(wanted - {p.value for p in SERVICE_GRANTABLE})
    if refused:
        raise ApiError(
            "validation-error",
            "Some permissions cannot be given to a service.",
            errors={"permissions": [f"Not grantable to services: {p}" for p in refused]},
        )
    key_id = API_KEY_PREFIX + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        id=key_id,
        name=name,
        secret_hash=hash_api_secret(secret),
        purposes=sorted(set(purposes)),
        permissions=sorted(Permission(p).value for p in wanted),
        brand_id=brand,
        created_by=created_by,
    )
    db.add(key)
    db.flush()
    return NewApiKey(key=key, token=f"{key_id}.{secret}")


def revoke_api_key(db: Session, key_id: str, actor_brand: str | None = None) -> ApiKey:
    """Revoke a key; it stops working for every request after the commit.

    An operator of one brand (``actor_brand``) sees no other brand's keys.
    """
    key = db.get(ApiKey, key_id)
    if key is None or not sees(actor_brand, key.brand_id):
        raise ApiError("not-found", f"No API key {key_id!r}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


# -- portal links --------------------------------------------------------------------------

_PORTAL_SALT = "governance.portal-link.v1"


def _serializer(link_key: bytes) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(link_key, salt=_PORTAL_SALT)


def issue_portal_token(subject_id: str, link_key: bytes) -> str:
    """Sign a one-time portal token for ``subject_id`` (single use is enforced at redemption)."""
    return str(_serializer(link_key).dumps({"sub": subject_id, "jti": secrets.token_hex(16)}))


def redeem_portal_token(db: Session, token: str, link_key: bytes, max_age: int) -> str:
    """Check signature and age, record the link as used, and return its subject id."""
    try:
        payload: dict[str, Any] = _serializer(link_key).loads(token, max_age=max_age)
    except SignatureExpired:
        raise ApiError("link-expired-or-used", "This portal link has expired.") from None
    except BadSignature:
        raise ApiError("invalid-credentials", "This portal link is not valid.") from None
    subject_id, jti = str(payload.get("sub", "")), str(payload.get("jti", ""))
    if not subject_id or not jti:
        raise ApiError("invalid-credentials", "This portal link is not valid.")
    try:
        with db.begin_nested():
            db.add(PortalLinkRedemption(jti=jti, subject_id=subject_id))
    except IntegrityError:
        raise ApiError("link-expired-or-used", "This portal link has already been used.") from None
    return subject_id


def session_expiry(minutes: int) -> int:
    """A session expiry as a Unix timestamp ``minutes`` from now."""
    return int((utcnow() + dt.timedelta(minutes=minutes)).timestamp())
