"""The transactional outbox: consent events become webhook messages in their own transaction.

:func:`enqueue` is called by the ledger right after an event row is flushed, in the same
transaction: the messages commit with the event or not at all, so no committed change is
ever lost to a crash between "saved" and "sent", and no rolled-back one is ever sent.

Order: the delivery worker sends a subject's messages to a subscriber in ``id`` order.
Ids follow commit order because every consent write holds the audit log's write lock
(:func:`audit.log.lock`) from before its first row until it commits; a message can
therefore never appear behind a later one that a worker has already seen.

The payload is fixed here, once: every attempt sends the same bytes, so a subscriber can
compare a repeat with what it stored.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from consent.webhooks.models import OUTBOX, SUBSCRIPTIONS
from governance.db import utcnow
from governance.profiles.models import Subject

__all__ = ["PAYLOAD_VERSION", "enqueue", "payload_for"]

#: ``v`` of the payload; a change of its meaning gets a new number.
PAYLOAD_VERSION = 1

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


def _time(moment: dt.datetime) -> str:
    """``2026-11-25T10:00:00.123456Z``: UTC, fixed width (as the audit log writes times)."""
    if moment.tzinfo is None:  # SQLite hands naive UTC back before the type decorator
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def payload_for(event: ConsentEvent) -> dict[str, Any]:
    """What subscribers receive about ``event``: ids and the decision, no profile data."""
    return {
        "v": PAYLOAD_VERSION,
        "event_id": event.id,
        "subject_id": event.subject_id,
        "purpose": event.purpose,
        "kind": event.kind,
        "tier": event.tier,
        "notice_version": event.notice_version,
        "occurred_at": _time(event.occurred_at),
        "receipt_id": event.receipt_id,
    }


def canonical(payload: dict[str, Any]) -> str:
    """Canonical JSON text: sorted keys, no whitespace, UTF-8 characters as they are."""
    return _ENCODER.encode(payload)


def enqueue(session: Session, event: ConsentEvent) -> int:
    """Queue ``event`` for every active subscription of the subject's brand following its purpose.

    Call it after the event row is flushed (it needs the event id) and its receipt id is
    set, inside the event's transaction; the caller commits. Returns the number of
    messages written (0 when nobody subscribes to the purpose).
    """
    if event.id is None:
        raise ValueError("enqueue needs a flushed event (its id is not set yet)")
    rows = session.execute(
        select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.purposes)
        .where(
            SUBSCRIPTIONS.c.active.is_(True),
            SUBSCRIPTIONS.c.brand_id
            == select(Subject.brand_id).where(Subject.id == event.subject_id).scalar_subquery(),
        )
        .order_by(SUBSCRIPTIONS.c.id)
    ).all()
    targets = [sub_id for sub_id, purposes in rows if event.purpose in (purposes or ())]
    if not targets:
        return 0
    body = canonical(payload_for(event))
    now = utcnow()
    session.execute(
        insert(OUTBOX),
        [
            {
                "subscription_id": sub_id,
                "subject_id": event.subject_id,
                "event_id": event.id,
                "purpose": event.purpose,
                "payload": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub_id in targets
        ],
    )
    return len(targets)
