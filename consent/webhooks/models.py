"""Webhook tables: consent-change subscriptions and the transactional outbox.

``consent_subscriptions`` names who hears of consent changes: a URL, the purposes it
follows, and the signing secret, stored only wrapped by the app's KEK keyring (bound to
the subscription id, so a wrapped secret copied to another row does not open).

``consent_outbox`` holds one message per event and subscriber, written in the event's
own transaction (:func:`consent.webhooks.outbox.enqueue`), so a committed event always
has its messages and a rolled-back one never does. The pair (subscription, event) is
unique: it is the message's idempotency key, sent with every attempt. The delivery
worker (:mod:`consent.webhooks.delivery`) moves a message from ``pending`` to
``delivered``, or to ``dead`` after the configured number of failed attempts; the DPO
puts a dead message back to ``pending`` (retry) or sets it ``discarded``.

A pending message's ``next_attempt_at`` is when it is due. A worker claiming it moves
that time forward by a lease and writes its claim token in ``claimed_by``; it then owns
the message until the lease runs out (a crashed worker's messages become due again).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from governance.brands import DEFAULT_BRAND
from governance.db import Base, utcnow

#: Message statuses. ``pending``: to be sent (or being sent, while claimed);
#: ``delivered``: a 2xx answer was received; ``dead``: every attempt failed, waiting for
#: the DPO; ``discarded``: the DPO (or deactivating the subscription) gave it up.
STATUSES = ("pending", "delivered", "dead", "discarded")
#: Statuses that hold back later messages for the same subscription and subject.
BLOCKING = ("pending", "dead")
#: Statuses of messages owed to nobody any more (``governance consent purge-outbox``).
FINISHED = ("delivered", "discarded")

_ID = BigInteger().with_variant(Integer(), "sqlite")


class WebhookSubscription(Base):
    """A downstream service that hears of consent changes for some purposes."""

    __tablename__ = "consent_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # whs_<16 hex>
    name: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(2048))
    purposes: Mapped[list[str]] = mapped_column(JSON)  # purpose ids of the catalog
    # It hears of this brand's subjects only (governance.brands).
    brand_id: Mapped[str] = mapped_column(
        ForeignKey("brands.id"), server_default=DEFAULT_BRAND, default=DEFAULT_BRAND
    )
    # The signing secret wrapped by the KEK keyring (``kek-id:base64``), AAD bound to id.
    secret_wrapped: Mapped[str] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    deactivated_at: Mapped[dt.datetime | None]

    def to_public(self) -> dict[str, Any]:
        """What may be shown about a subscription (never its secret, wrapped or not)."""
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "brand": self.brand_id,
            "purposes": list(self.purposes),
            "active": self.active,
            "created_at": self.created_at,
            "created_by": self.created_by,
            "deactivated_at": self.deactivated_at,
        }


class OutboxMessage(Base):
    """One consent event to deliver to one subscription."""

    __tablename__ = "consent_outbox"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        # The idempotency key: one message per event and subscription.
        UniqueConstraint(
            "subscription_id", "event_id", name="uq_consent_outbox_subscription_event"
        ),
        # The worker: pending messages that are due.
        Index("ix_consent_outbox_status_due", "status", "next_attempt_at"),
        # Per-subject order: is there an earlier pending or dead message for this pair?
        Index("ix_consent_outbox_ordering", "subscription_id", "subject_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("consent_subscriptions.id"))
    subject_id: Mapped[str] = mapped_column(String(40))  # opaque sub_ id
    event_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("consent_events.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON, the exact body sent
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[dt.datetime | None]
    last_status: Mapped[int | None] = mapped_column(SmallInteger)  # HTTP status, if any
    last_error: Mapped[str | None] = mapped_column(String(64))  # a code, never a body
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None]


SUBSCRIPTIONS = cast(Table, WebhookSubscription.__table__)
OUTBOX = cast(Table, OutboxMessage.__table__)
