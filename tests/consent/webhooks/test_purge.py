"""Purging the outbox: old delivered and discarded messages go, owed ones never do."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from audit.models import AuditEntry
from consent.webhooks.models import OUTBOX
from governance.db import get_session, utcnow
from tests.consent.webhooks.conftest import subject_id


def _set(app: Flask, event_id: int, **values: Any) -> None:
    with app.app_context():
        session = get_session()
        session.execute(update(OUTBOX).where(OUTBOX.c.event_id == event_id).values(**values))
        session.commit()


def test_purge_deletes_only_old_finished_messages(
    app: Flask, subscribe: Any, add_event: Any, messages: Any, runner: Any
) -> None:
    subscribe("http://127.0.0.1:9/hook")
    long_ago = utcnow() - dt.timedelta(days=40)
    recently = utcnow() - dt.timedelta(days=2)
    old_delivered = add_event(subject_id(1))
    new_delivered = add_event(subject_id(2))
    old_discarded = add_event(subject_id(3))
    old_dead = add_event(subject_id(4))
    old_pending = add_event(subject_id(5))
    _set(app, old_delivered, status="delivered", delivered_at=long_ago, last_attempt_at=long_ago)
    _set(app, new_delivered, status="delivered", delivered_at=recently, last_attempt_at=recently)
    _set(app, old_discarded, status="discarded", last_attempt_at=long_ago)
    _set(app, old_dead, status="dead", last_attempt_at=long_ago)
    _set(app, old_pending, created_at=long_ago)

    result = runner.invoke(args=["consent", "purge-outbox", "--older-than-days", "30"])

    assert result.exit_code == 0, result.output
    assert result.output.startswith("2 delivered or discarded messages")
    left = {row["event_id"]: row["status"] for row in messages()}
    assert left == {new_delivered: "delivered", old_dead: "dead", old_pending: "pending"}
    with app.app_context():
        entry = get_session().scalar(
            select(AuditEntry).where(AuditEntry.action == "consent.webhook.purge")
        )
    assert entry is not None and '"purged":2' in entry.details


def test_purge_refuses_a_period_under_a_day(runner: Any, app: Flask) -> None:
    result = runner.invoke(args=["consent", "purge-outbox", "--older-than-days", "0"])
    assert result.exit_code != 0 and "older-than-days" in result.output
