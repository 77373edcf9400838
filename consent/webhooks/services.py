"""Subscriptions and dead letters: the rules behind the webhooks API.

Services receive the session and never commit; each change they make is recorded in the
audit trail in the same transaction (ids, purposes and counts only). Bad input raises
:class:`governance.errors.ApiError` before anything is written.

URLs: ``http`` or ``https`` with a host, no user name or password (they would be stored in
clear), no fragment, no spaces or control characters. In production (``GOVERNANCE_ENV``)
plain ``http`` is refused except to a loopback address (``localhost``, 127.0.0.0/8,
``::1``), where nothing crosses a network.

Secrets: ``whsec_`` and 43 URL-safe characters (256 random bits), returned once by
:func:`create_subscription` and stored only wrapped by the KEK keyring, with associated
data naming the subscription, so a wrapped secret copied to another row does not open.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import CursorResult, Result, delete, func, select, update
from sqlalchemy.orm import Session

import audit
from consent.catalog.models import Purpose
from consent.webhooks.models import (
    BLOCKING,
    FINISHED,
    OUTBOX,
    OutboxMessage,
    WebhookSubscription,
)
from governance.brands import DEFAULT_BRAND, require_brand, sees
from governance.db import utcnow
from governance.errors import ApiError
from governance.keys import Keyring

__all__ = [
    "DeadLetterPage",
    "NewSubscription",
    "check_url",
    "create_subscription",
    "deactivate_subscription",
    "dead_letters",
    "discard_dead_letter",
    "idempotency_key",
    "list_subscriptions",
    "retry_dead_letter",
    "rowcount",
    "secret_aad",
    "unwrap_secret",
]

SUBSCRIPTION_PREFIX = "whs_"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
MAX_SUBSCRIPTIONS_LISTED = 1000


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE matched (``Session.execute`` is typed as returning any result)."""
    return cast(CursorResult[Any], result).rowcount


def secret_aad(subscription_id: str) -> bytes:
    """Associated data binding a wrapped secret to its subscription."""
    return f"webhook-secret:{subscription_id}".encode()


def unwrap_secret(keyring: Keyring, subscription_id: str, wrapped: str) -> bytes:
    """The subscription's signing secret (the HMAC key: the ``whsec_...`` text as UTF-8)."""
    return keyring.unwrap(wrapped, secret_aad(subscription_id))


def idempotency_key(subscription_id: str, event_id: int) -> str:
    """The ``Idempotency-Key`` of a message: the same for every attempt."""
    return f"{subscription_id}:{event_id}"


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(
        "validation-error", f"Invalid request fields: {field}.", errors={field: [message]}
    )


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, production: bool) -> str:
    """Return ``url`` if a webhook may be sent to it; raise a 422 naming why not."""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise _invalid("url", "Spaces and control characters are not allowed.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _invalid("url", "Use an http or https URL.")
    if not parts.hostname:
        raise _invalid("url", "The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise _invalid("url", "Credentials in the URL are refused; the signature authenticates.")
    if parts.fragment or url.endswith("#"):
        raise _invalid("url", "A fragment (#...) is not sent; leave it out.")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise _invalid("url", "The port is not a number from 0 to 65535.") from None
    if production and parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise _invalid("url", "In production, use https (plain http only to a loopback address).")
    return url


def _check_purposes(session: Session, purposes: Sequence[str]) -> list[str]:
    wanted = sorted(set(purposes))
    if not wanted:
        raise _invalid("purposes", "Name at least one purpose.")
    known = set(session.scalars(select(Purpose.id).where(Purpose.id.in_(wanted))))
    unknown = [p for p in wanted if p not in known]
    if unknown:
        raise ApiError(
            "validation-error",
            "Some purposes are not in the catalog.",
            errors={"purposes": [f"Unknown purpose: {p}" for p in unknown]},
        )
    return wanted


@dataclass(frozen=True)
class NewSubscription:
    """A created subscription and its secret, which is shown once and stored wrapped."""

    subscription: WebhookSubscription
    secret: str


def create_subscription(
    session: Session,
    *,
    name: str,
    url: str,
    purposes: Sequence[str],
    keyring: Keyring,
    production: bool,
    created_by: int | None = None,
    brand: str = DEFAULT_BRAND,
) -> NewSubscription:
    """Create an active subscription to changes of ``brand``'s subjects for ``purposes``."""
    name = name.strip()
    if not name:
        raise _invalid("name", "Give the subscription a name.")
    check_url(url, production=production)
    wanted = _check_purposes(session, purposes)
    require_brand(session, brand)
    sub_id = SUBSCRIPTION_PREFIX + secrets.token_hex(8)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    subscription = WebhookSubscription(
        id=sub_id,
        name=name,
        url=url,
        purposes=wanted,
        brand_id=brand,
        secret_wrapped=keyring.wrap(secret.encode(), secret_aad(sub_id)),
        active=True,
        created_at=utcnow(),
        created_by=created_by,
    )
    session.add(subscription)
    session.flush()
    audit.record(
        session,
        action="consent.webhook.subscribe",
        resource=f"webhook:{sub_id}",
        details={
            "subscription_id": sub_id,
            "brand": brand,
            "purposes": wanted,
            "scheme": urlsplit(url).scheme,
        },
    )
    return NewSubscription(subscription, secret)


def list_subscriptions(session: Session, *, brand: str | None = None) -> list[WebhookSubscription]:
    """Every subscription (of ``brand``; None: all), newest first (never a secret)."""
    stmt = (
        select(WebhookSubscription)
        .order_by(WebhookSubscription.created_at.desc(), WebhookSubscription.id)
        .limit(MAX_SUBSCRIPTIONS_LISTED)
    )
    if brand is not None:
        stmt = stmt.where(WebhookSubscription.brand_id == brand)
    return list(session.scalars(stmt))


def _subscription(session: Session, subscription_id: str, brand: str | None) -> WebhookSubscription:
    """The subscription, if an actor of ``brand`` (None: the group) may see it; else 404."""
    subscription = session.get(WebhookSubscription, subscription_id)
    if subscription is None or not sees(brand, subscription.brand_id):
        raise ApiError("not-found", f"No webhook subscription {subscription_id!r}.")
    return subscription


def deactivate_subscription(
    session: Session, subscription_id: str, *, brand: str | None = None
) -> WebhookSubscription:
    """Stop deliveries to a subscription at once; it is kept, inactive, for the record.

    Its undelivered messages (pending or dead) are discarded in the same transaction: no
    worker claims them afterwards. Deactivating twice changes nothing the second time.
    """
    subscription = _subscription(session, subscription_id, brand)
    if not subscription.active:
        return subscription
    subscription.active = False
    subscription.deactivated_at = utcnow()
    discarded = rowcount(
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.subscription_id == subscription_id, OUTBOX.c.status.in_(BLOCKING))
            .values(status="discarded", claimed_by=None)
        )
    )
    audit.record(
        session,
        action="consent.webhook.unsubscribe",
        resource=f"webhook:{subscription_id}",
        details={"subscription_id": subscription_id, "discarded": discarded},
    )
    return subscription


# -- dead letters --------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetterPage:
    """Dead messages, oldest first, and the cursor of the next page (None: last page)."""

    items: list[dict[str, Any]]
    next: int | None


def dead_letters(
    session: Session,
    *,
    subscription_id: str | None = None,
    after: int | None = None,
    limit: int,
    brand: str | None = None,
) -> DeadLetterPage:
    """Dead messages (oldest first, keyset-paged by id), each with what it holds back.

    ``brand``: only messages to that brand's subscriptions (None: all).
    """
    o = OUTBOX
    later = OUTBOX.alias("later")
    held_back = (
        select(func.count())
        .where(
            later.c.subscription_id == o.c.subscription_id,
            later.c.subject_id == o.c.subject_id,
            later.c.status == "pending",
            later.c.id > o.c.id,
        )
        .scalar_subquery()
    )
    stmt = select(
        o.c.id,
        o.c.subscription_id,
        o.c.event_id,
        o.c.subject_id,
        o.c.purpose,
        o.c.status,
        o.c.attempts,
        o.c.last_status,
        o.c.last_error,
        o.c.last_attempt_at,
        o.c.created_at,
        held_back.label("held_back"),
    ).where(o.c.status == "dead")
    if subscription_id is not None:
        stmt = stmt.where(o.c.subscription_id == subscription_id)
    if brand is not None:
        stmt = stmt.where(
            o.c.subscription_id.in_(
                select(WebhookSubscription.id).where(WebhookSubscription.brand_id == brand)
            )
        )
    if after is not None:
        stmt = stmt.where(o.c.id > after)
    rows = session.execute(stmt.order_by(o.c.id).limit(limit + 1)).mappings().all()
    items = [
        {**row, "idempotency_key": idempotency_key(row["subscription_id"], row["event_id"])}
        for row in rows[:limit]
    ]
    return DeadLetterPage(items, items[-1]["id"] if len(rows) > limit else None)


def _dead_letter(session: Session, message_id: int, brand: str | None) -> OutboxMessage:
    message = session.get(OutboxMessage, message_id)
    subscription = (
        None if message is None else session.get(WebhookSubscription, message.subscription_id)
    )
    if message is None or subscription is None or not sees(brand, subscription.brand_id):
        raise ApiError("not-found", f"No webhook message {message_id}.")
    if message.status != "dead":
        raise ApiError("conflict", f"Webhook message {message_id} is {message.status}, not dead.")
    return message


def _record_dpo_action(session: Session, action: str, message: OutboxMessage) -> None:
    audit.record(
        session,
        action=action,
        subject=message.subject_id,
        purpose=message.purpose,
        resource=f"webhook:{message.subscription_id}",
        details={
            "message_id": message.id,
            "event_id": message.event_id,
            "subscription_id": message.subscription_id,
            "attempts": message.attempts,
        },
    )


def retry_dead_letter(
    session: Session, message_id: int, *, brand: str | None = None
) -> OutboxMessage:
    """Put a dead message back in the queue, due now, with a fresh count of attempts."""
    message = _dead_letter(session, message_id, brand)
    _record_dpo_action(session, "consent.webhook.retry", message)
    message.status = "pending"
    message.attempts = 0
    message.next_attempt_at = utcnow()
    message.claimed_by = None
    return message


def discard_dead_letter(
    session: Session, message_id: int, *, brand: str | None = None
) -> OutboxMessage:
    """Give a dead message up: it is never sent, and later ones for its subject go ahead."""
    message = _dead_letter(session, message_id, brand)
    _record_dpo_action(session, "consent.webhook.discard", message)
    message.status = "discarded"
    message.claimed_by = None
    return message


# -- housekeeping --------------------------------------------------------------------------


def purge_finished(session: Session, *, older_than: dt.timedelta) -> int:
    """Delete messages delivered (or discarded) more than ``older_than`` ago; return how many.

    Pending and dead messages are never touched: they are still owed to a subscriber. The
    events themselves stay in the ledger, and each delivery attempt's outcome is no part of
    the audit trail, so nothing of the record is lost.
    """
    if older_than <= dt.timedelta(0):
        raise _invalid("older_than", "Must be positive.")
    cutoff = utcnow() - older_than
    finished_at = func.coalesce(
        OUTBOX.c.delivered_at, OUTBOX.c.last_attempt_at, OUTBOX.c.created_at
    )
    purged = rowcount(
        session.execute(delete(OUTBOX).where(OUTBOX.c.status.in_(FINISHED), finished_at < cutoff))
    )
    audit.record(
        session,
        action="consent.webhook.purge",
        resource="webhook:outbox",
        details={"purged": purged, "older_than_days": older_than.days},
    )
    return purged
