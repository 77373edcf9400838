"""The outbox: one message per matching active subscription, in the event's transaction."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from consent.webhooks import outbox, services
from consent.webhooks.models import OUTBOX
from governance.db import get_session, utcnow
from governance.profiles.models import Subject

from .conftest import subject_id


def test_one_message_per_active_subscription_following_the_purpose(
    app: Flask, subscribe: Any, add_event: Any, messages: Any
) -> None:
    push = subscribe("https://crm.example.com/hooks", ("marketing_push", "analytics"))
    push_too = subscribe("https://push.example.com/hooks", ("marketing_push",))
    subscribe("https://bi.example.com/hooks", ("analytics",))  # another purpose
    gone = subscribe("https://old.example.com/hooks", ("marketing_push",))
    with app.app_context():
        db = get_session()
        services.deactivate_subscription(db, gone)
        db.commit()

    event_id = add_event(subject_id(1), "marketing_push")

    rows = messages()
    assert sorted(r["subscription_id"] for r in rows) == sorted([push, push_too])
    assert {r["event_id"] for r in rows} == {event_id}
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in rows)


def test_nothing_is_queued_for_a_purpose_nobody_follows(
    subscribe: Any, add_event: Any, messages: Any
) -> None:
    subscribe("https://crm.example.com/hooks", ("marketing_push",))
    add_event(subject_id(1), "customer_service")
    assert messages() == []


def test_enqueue_returns_the_number_of_messages(app: Flask, subscribe: Any) -> None:
    subscribe("https://a.example.com/hooks", ("analytics",))
    subscribe("https://b.example.com/hooks", ("analytics", "marketing_push"))
    with app.app_context():
        db = get_session()
        db.add(Subject(id=subject_id(2), birth_year=1990))
        db.flush()
        counts = []
        for purpose in ("analytics", "marketing_push", "customer_service"):
            event = _event(subject_id(2), purpose)
            db.add(event)
            db.flush()
            counts.append(outbox.enqueue(db, event))
        db.commit()
    assert counts == [2, 1, 0]


def test_payload_is_canonical_json_of_ids_and_the_decision(
    subscribe: Any, add_event: Any, messages: Any, app: Flask
) -> None:
    subscribe("https://crm.example.com/hooks")
    event_id = add_event(subject_id(3), "marketing_push", "grant")
    [row] = messages()
    payload = json.loads(row["payload"])
    with app.app_context():
        event = get_session().get(ConsentEvent, event_id)
        assert event is not None
        receipt_id = event.receipt_id
    assert payload == {
        "v": 1,
        "event_id": event_id,
        "subject_id": subject_id(3),
        "purpose": "marketing_push",
        "kind": "grant",
        "tier": "behaviour",
        "notice_version": "2026-09",
        "occurred_at": payload["occurred_at"],
        "receipt_id": receipt_id,
    }
    assert payload["occurred_at"].endswith("Z") and len(payload["occurred_at"]) == 27
    assert row["payload"] == json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert row["subject_id"] == subject_id(3) and row["purpose"] == "marketing_push"


def test_a_rolled_back_event_leaves_no_message(
    app: Flask, subscribe: Any, add_event: Any, messages: Any
) -> None:
    subscribe("https://crm.example.com/hooks")
    with app.app_context():
        db = get_session()
        add_event(subject_id(4), commit=False, session=db)
        queued = db.scalar(select(func.count()).select_from(OUTBOX))
        db.rollback()
    assert queued == 1  # it was there, in the event's transaction
    assert messages() == []


def test_an_unflushed_event_is_refused(db: Session) -> None:
    with pytest.raises(ValueError, match="flushed"):
        outbox.enqueue(db, _event(subject_id(5), "marketing_push"))


def test_one_message_per_subscription_and_event(app: Flask, subscribe: Any, add_event: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    subscribe("https://crm.example.com/hooks")
    event_id = add_event(subject_id(6))
    with app.app_context():
        db = get_session()
        event = db.get(ConsentEvent, event_id)
        assert event is not None
        with pytest.raises(IntegrityError):
            outbox.enqueue(db, event)
            db.flush()
        db.rollback()


def _event(subject: str, purpose: str) -> ConsentEvent:
    return ConsentEvent(
        subject_id=subject,
        purpose=purpose,
        kind="withdraw",
        channel="api",
        acted_by="service",
        actor_id="gk_fictional",
        occurred_at=utcnow(),
        audit_seq=0,
    )
