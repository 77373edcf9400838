"""Delivery against a real HTTP receiver on loopback that checks every signature."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.models import ENTRIES
from consent.webhooks import services
from consent.webhooks.delivery import (
    DeliverySettings,
    Outcome,
    backoff_seconds,
    claim,
    record_outcome,
)
from governance.db import get_engine, get_session

from .conftest import TEST_SETTINGS, Clock, FixedRandom, Receiver, subject_id


def _at(row: dict[str, Any]) -> dt.datetime:
    moment: dt.datetime = row["next_attempt_at"]
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# -- delivery --------------------------------------------------------------------------------


def test_a_withdrawal_is_delivered_signed_with_its_idempotency_key(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any,
) -> None:  # fmt: skip
    sub = subscribe(receiver.url, receiver=receiver)
    event_id = add_event(subject_id(1), "marketing_push", "withdraw")
    [queued] = messages()

    totals = make_worker(db).drain()

    assert (totals.delivered, totals.retrying, totals.dead) == (1, 0, 0)
    [got] = receiver.received
    assert got.verified and got.answered == 204
    assert got.path == "/hooks/consent"
    assert got.body.decode() == queued["payload"]
    assert got.payload["kind"] == "withdraw" and got.payload["event_id"] == event_id
    assert got.headers["Idempotency-Key"] == f"{sub}:{event_id}"
    assert got.headers["X-Governance-Event-Id"] == str(event_id)
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["X-Governance-Delivery-Attempt"] == "1"
    [row] = messages()
    assert row["status"] == "delivered" and row["attempts"] == 1
    assert row["delivered_at"] is not None and row["claimed_by"] is None
    assert row["last_status"] == 204 and row["last_error"] is None


def test_a_receiver_with_another_secret_refuses_and_nothing_counts_as_delivered(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any,
) -> None:  # fmt: skip
    sub = subscribe(receiver.url, receiver=receiver)
    receiver.secrets[sub] = "whsec_not-the-one-the-platform-holds"
    add_event(subject_id(1))

    totals = make_worker(db).drain()

    assert totals.delivered == 0 and totals.retrying == 1
    assert [r.verified for r in receiver.received] == [False]
    [row] = messages()
    assert (row["status"], row["last_status"], row["last_error"]) == ("pending", 401, "http_401")


def test_retry_after_the_receiver_failed_follows_the_backoff(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any, clock: Clock,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    receiver.answer(500, 503)
    worker = make_worker(db, settings=dataclasses.replace(TEST_SETTINGS, max_attempts=5))
    start = clock.now

    assert worker.drain().retrying == 1
    [row] = messages()
    assert row["status"] == "pending" and row["attempts"] == 1
    assert (row["last_status"], row["last_error"]) == (500, "http_500")
    assert _at(row) == start + dt.timedelta(seconds=10)  # base 10 s, full draw

    clock.advance(9.9)
    assert worker.drain().claimed == 0  # not due yet
    assert len(receiver.received) == 1

    clock.advance(0.1)
    assert worker.drain().retrying == 1
    [row] = messages()
    assert row["attempts"] == 2 and row["last_status"] == 503
    assert _at(row) == clock.now + dt.timedelta(seconds=20)  # doubled

    clock.advance(20)
    assert worker.drain().delivered == 1
    assert [r.answered for r in receiver.received] == [500, 503, 204]
    [row] = messages()
    assert row["status"] == "delivered" and row["attempts"] == 3 and row["last_error"] is None


def test_backoff_is_exponential_capped_and_jittered_within_half() -> None:
    low, high = FixedRandom(0.0), FixedRandom(1.0)
    assert [backoff_seconds(n, 10, 80, high) for n in range(1, 7)] == [10, 20, 40, 80, 80, 80]
    assert [backoff_seconds(n, 10, 80, low) for n in range(1, 7)] == [5, 10, 20, 40, 40, 40]
    draws = {backoff_seconds(3, 10, 80) for _ in range(200)}
    assert all(20 <= d <= 40 for d in draws) and len(draws) > 100  # spread out
    assert backoff_seconds(10_000, 1, 3600, high) == 3600  # no overflow


def test_jitter_shortens_the_delay_by_up_to_half(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any, clock: Clock,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    receiver.answer(500)
    make_worker(db, rng=FixedRandom(0.0)).drain()
    [row] = messages()
    assert _at(row) == clock.now + dt.timedelta(seconds=5)


def test_a_refused_connection_is_a_failed_attempt(
    db: Session, refused_url: str, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any, clock: Clock,
) -> None:  # fmt: skip
    subscribe(refused_url)
    add_event(subject_id(1))

    totals = make_worker(db).drain()

    assert (totals.delivered, totals.retrying) == (0, 1)
    [row] = messages()
    assert row["status"] == "pending" and row["attempts"] == 1
    assert (row["last_status"], row["last_error"]) == (None, "connection_refused")
    assert _at(row) == clock.now + dt.timedelta(seconds=10)


def test_a_receiver_slower_than_the_timeout_is_a_failed_attempt(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    receiver.delay_s = 1.0
    settings = dataclasses.replace(TEST_SETTINGS, timeout_s=0.2)

    started = time.monotonic()
    totals = make_worker(db, settings=settings).drain()

    assert time.monotonic() - started < 1.0
    assert totals.retrying == 1
    [row] = messages()
    assert row["last_error"] == "timeout" and row["status"] == "pending"


def test_a_redirect_is_not_followed_and_counts_as_failed(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    receiver.answer(302)
    assert make_worker(db).drain().retrying == 1
    assert len(receiver.received) == 1
    [row] = messages()
    assert row["last_error"] == "http_302"


def test_the_idempotency_key_and_body_are_the_same_on_every_attempt(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    clock: Clock,
) -> None:  # fmt: skip
    sub = subscribe(receiver.url, receiver=receiver)
    event_id = add_event(subject_id(1))
    receiver.answer(500, 500)
    worker = make_worker(db)
    for _ in range(3):
        worker.drain()
        clock.advance(3600)
    attempts = receiver.received
    assert [r.answered for r in attempts] == [500, 500, 204]
    assert {r.key for r in attempts} == {f"{sub}:{event_id}"}
    assert len({r.body for r in attempts}) == 1
    assert [r.headers["X-Governance-Delivery-Attempt"] for r in attempts] == ["1", "2", "3"]
    assert all(r.verified for r in attempts)


# -- dead letters and order ------------------------------------------------------------------


def _fail_until_dead(worker: Any, clock: Clock, attempts: int) -> None:
    for _ in range(attempts):
        worker.drain()
        clock.advance(3600)


def test_dead_letter_after_max_attempts_is_audited_listed_and_holds_back_the_subject(
    app: Flask, db: Session, receiver: Receiver, subscribe: Any, add_event: Any,
    make_worker: Any, messages: Any, clock: Clock, as_dpo: Any,
) -> None:  # fmt: skip
    sub = subscribe(receiver.url, receiver=receiver)
    first = add_event(subject_id(1), kind="withdraw")
    receiver.answer(500, 500, 500)
    worker = make_worker(db)

    _fail_until_dead(worker, clock, 3)

    [dead] = messages(event_id=first)
    assert dead["status"] == "dead" and dead["attempts"] == 3
    assert len(receiver.received) == 3
    # the audit entry: ids only
    with get_engine(app).connect() as conn:
        [entry] = conn.execute(
            select(ENTRIES).where(ENTRIES.c.action == "consent.webhook.dead")
        ).mappings()
    assert entry["subject_id"] == subject_id(1) and entry["purpose"] == "marketing_push"
    assert entry["decision"] == "error" and entry["resource"] == f"webhook:{sub}"
    assert receiver.url not in str(dict(entry)) and "whsec_" not in str(dict(entry))
    assert f'"event_id":{first}' in entry["details"]
    # the DPO sees it
    page = as_dpo.get("/api/v1/consent/webhooks/dead-letters").get_json()
    assert [item["id"] for item in page["items"]] == [dead["id"]]
    assert page["items"][0]["idempotency_key"] == f"{sub}:{first}"
    assert page["items"][0]["last_error"] == "http_500" and page["next"] is None

    # a later change for the same subject waits; another subject's goes through
    later = add_event(subject_id(1), kind="grant")
    other = add_event(subject_id(2), kind="withdraw")
    totals = worker.drain()
    assert totals.delivered == 1
    assert [r.payload["event_id"] for r in receiver.delivered()] == [other]
    page = as_dpo.get("/api/v1/consent/webhooks/dead-letters").get_json()
    assert page["items"][0]["held_back"] == 1

    # the DPO retries: the dead letter goes first, then the one it held back
    resp = as_dpo.post(f"/api/v1/consent/webhooks/dead-letters/{dead['id']}/retry")
    assert resp.status_code == 200 and resp.get_json()["status"] == "pending"
    worker.drain()
    assert [r.payload["event_id"] for r in receiver.delivered()] == [other, first, later]
    assert as_dpo.get("/api/v1/consent/webhooks/dead-letters").get_json()["items"] == []


def test_discarding_a_dead_letter_lets_later_messages_go(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any, clock: Clock, as_dpo: Any,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    first = add_event(subject_id(1))
    receiver.answer(500, 500, 500)
    worker = make_worker(db)
    _fail_until_dead(worker, clock, 3)
    later = add_event(subject_id(1), kind="grant")
    assert worker.drain().claimed == 0

    [dead] = messages(event_id=first)
    resp = as_dpo.post(f"/api/v1/consent/webhooks/dead-letters/{dead['id']}/discard")
    assert resp.status_code == 200 and resp.get_json()["status"] == "discarded"
    worker.drain()

    assert [r.payload["event_id"] for r in receiver.delivered()] == [later]
    assert messages(event_id=first)[0]["status"] == "discarded"


def test_a_subjects_messages_arrive_in_order_across_failures(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    clock: Clock,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    a1 = add_event(subject_id(1), kind="grant")
    a2 = add_event(subject_id(1), kind="withdraw")
    b1 = add_event(subject_id(2), kind="grant")
    a3 = add_event(subject_id(1), kind="grant")
    b2 = add_event(subject_id(2), kind="withdraw")
    receiver.answer(500)  # the first request fails: a1, as one sender goes in id order
    worker = make_worker(db, settings=dataclasses.replace(TEST_SETTINGS, concurrency=1))

    worker.drain()
    # a1 waits for its retry; b's went through; nothing of a overtook a1
    assert [r.payload["event_id"] for r in receiver.delivered()] == [b1, b2]
    clock.advance(10)
    worker.drain()

    by_subject: dict[str, list[int]] = {}
    for r in receiver.delivered():
        by_subject.setdefault(r.payload["subject_id"], []).append(r.payload["event_id"])
    assert by_subject == {subject_id(1): [a1, a2, a3], subject_id(2): [b1, b2]}


def test_each_round_sends_at_most_one_message_per_subject(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    for _ in range(3):
        add_event(subject_id(1))
    add_event(subject_id(2))
    worker = make_worker(db)
    assert worker.run_once().claimed == 2
    assert worker.run_once().claimed == 1
    assert worker.run_once().claimed == 1
    assert worker.run_once().claimed == 0


def test_a_deactivated_subscription_gets_nothing_more(
    app: Flask, db: Session, receiver: Receiver, subscribe: Any, add_event: Any,
    make_worker: Any, messages: Any,
) -> None:  # fmt: skip
    sub = subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    with app.app_context():
        session = get_session()
        services.deactivate_subscription(session, sub)
        session.commit()
    add_event(subject_id(1))  # after deactivation: not even queued

    assert make_worker(db).drain().claimed == 0
    assert receiver.received == []
    assert [r["status"] for r in messages()] == ["discarded"]


# -- claims and leases -----------------------------------------------------------------------


def test_a_message_claimed_by_a_worker_that_died_is_sent_after_the_lease(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    messages: Any, clock: Clock,
) -> None:  # fmt: skip
    subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    settings = TEST_SETTINGS
    [stale] = claim(db, token="dead-worker/1", now=clock.now, limit=10, lease_s=settings.lease_s)
    db.commit()  # ... and the worker dies before sending
    worker = make_worker(db)

    assert worker.drain().claimed == 0  # still leased
    clock.advance(settings.lease_s)
    assert worker.drain().delivered == 1
    [row] = messages()
    assert row["status"] == "delivered" and row["attempts"] == 2

    # the dead worker's late report changes nothing
    late = record_outcome(
        db, stale, Outcome(False, 500, "http_500"), now=clock.now, settings=settings
    )
    db.commit()
    assert late == "lost"
    assert messages()[0]["status"] == "delivered"


def test_a_claimed_message_is_not_claimed_again_before_its_lease_ends(
    db: Session, subscribe: Any, add_event: Any, clock: Clock, messages: Any
) -> None:
    subscribe("https://crm.example.com/hooks")
    add_event(subject_id(1))
    first = claim(db, token="w1/1", now=clock.now, limit=10, lease_s=60)
    db.commit()
    second = claim(db, token="w2/1", now=clock.now + dt.timedelta(seconds=59), limit=10, lease_s=60)
    db.commit()
    assert len(first) == 1 and second == []
    assert messages()[0]["claimed_by"] == "w1/1"


def test_the_lease_covers_a_round_of_timeouts() -> None:
    settings = DeliverySettings(timeout_s=5, batch_size=32, concurrency=8)
    assert settings.lease_s == 2 * 4 * 5 + 30
    assert DeliverySettings(timeout_s=5, batch_size=1, concurrency=1).lease_s == 40


# -- the loop --------------------------------------------------------------------------------


def test_the_running_loop_delivers_a_new_withdrawal_within_a_second(
    app: Flask, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
) -> None:  # fmt: skip
    from governance.db import utcnow

    subscribe(receiver.url, receiver=receiver)
    stop = threading.Event()
    failures: list[BaseException] = []

    def loop() -> None:
        try:
            with app.app_context():
                make_worker(clock=utcnow).run(0.05, stop)
        except BaseException as exc:  # reported to the test below
            failures.append(exc)

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        committed = time.monotonic()
        event_id = add_event(subject_id(1))
        [got] = receiver.wait_for(1, timeout_s=5)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert failures == []
    assert got.payload["event_id"] == event_id
    assert got.at - committed < 1.0


def test_logs_hold_neither_the_secret_nor_the_url(
    db: Session, receiver: Receiver, subscribe: Any, add_event: Any, make_worker: Any,
    clock: Clock, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    from governance.logs import JsonFormatter

    caplog.set_level(logging.DEBUG)
    sub = subscribe(receiver.url, receiver=receiver)
    add_event(subject_id(1))
    add_event(subject_id(2))
    receiver.answer(500, 204, 500, 500)
    worker = make_worker(db)
    for _ in range(3):
        worker.drain()
        clock.advance(3600)
    assert worker.totals.dead == 1 and worker.totals.delivered == 1

    text = "\n".join(JsonFormatter().format(r) + repr(r.__dict__) for r in caplog.records)
    assert "dead-lettered" in text  # the dead letter was logged, by ids
    assert receiver.secrets[sub] not in text
    assert receiver.url not in text and "127.0.0.1" not in text
