"""Several workers at once, the ``governance consent deliver`` command, and the ledger."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy.orm import Session

from governance import create_app
from governance.db import get_engine, get_session, utcnow

from .conftest import Receiver, subject_id

SUBJECTS = 30
EVENTS_PER_SUBJECT = 3


def _by_subject(received: list[Any]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for r in received:
        out.setdefault(r.payload["subject_id"], []).append(r.payload["event_id"])
    return out


def test_two_workers_in_parallel_deliver_each_message_exactly_once_in_order(
    app: Flask, app_config: dict[str, Any], receiver: Receiver, subscribe: Any,
    add_event: Any, make_worker: Any,
) -> None:  # fmt: skip
    subs = [
        subscribe(receiver.url, receiver=receiver, name="CRM (fictional)"),
        subscribe(receiver.url, receiver=receiver, name="Push (fictional)"),
    ]
    expected: dict[str, list[int]] = {}
    for round_ in range(EVENTS_PER_SUBJECT):
        for n in range(SUBJECTS):
            kind = "grant" if round_ % 2 == 0 else "withdraw"
            expected.setdefault(subject_id(n), []).append(add_event(subject_id(n), kind=kind))
    total = len(subs) * SUBJECTS * EVENTS_PER_SUBJECT
    receiver.delay_s = 0.002  # long enough for the workers' rounds to overlap
    # Each worker has an app (engine, connections) of its own, as a process would.
    apps = [create_app({**app_config, "INSTANCE_PATH": app.instance_path}) for _ in range(2)]
    start = threading.Barrier(len(apps))
    done = threading.Event()
    failures: list[BaseException] = []
    claimed: list[int] = []

    def work(worker_app: Flask) -> None:
        try:
            with worker_app.app_context():
                worker = make_worker(get_session(), clock=utcnow)
                start.wait(timeout=10)
                while not done.is_set():
                    if worker.drain().claimed == 0:
                        time.sleep(0.01)
                claimed.append(worker.totals.claimed)
        except BaseException as exc:  # reported to the test below
            failures.append(exc)
            done.set()

    threads = [threading.Thread(target=work, args=(a,)) for a in apps]
    for thread in threads:
        thread.start()
    try:
        receiver.wait_for(total, timeout_s=60)
        time.sleep(0.2)  # a duplicate would arrive now
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
        for other in apps:
            get_engine(other).dispose()

    assert failures == []
    keys = Counter(r.key for r in receiver.received)
    assert len(keys) == total and set(keys.values()) == {1}
    assert all(r.verified and r.answered == 204 for r in receiver.received)
    assert sum(claimed) == total
    for sub in subs:
        mine = [r for r in receiver.received if r.key.startswith(f"{sub}:")]
        assert _by_subject(mine) == expected


def test_deliver_once_command_drains_what_is_due(
    runner: FlaskCliRunner, receiver: Receiver, subscribe: Any, add_event: Any, messages: Any
) -> None:
    subscribe(receiver.url, receiver=receiver)
    first = add_event(subject_id(1), kind="grant")
    second = add_event(subject_id(1), kind="withdraw")
    third = add_event(subject_id(2))

    result = runner.invoke(args=["consent", "deliver", "--once", "--concurrency", "2"])

    assert result.exit_code == 0, result.output
    assert "3 delivered, 0 to retry later, 0 dead-lettered" in result.output
    assert _by_subject(receiver.delivered()) == {
        subject_id(1): [first, second],
        subject_id(2): [third],
    }
    assert {m["status"] for m in messages()} == {"delivered"}


def test_deliver_once_reports_failures_and_exits_cleanly(
    runner: FlaskCliRunner, refused_url: str, subscribe: Any, add_event: Any
) -> None:
    subscribe(refused_url)
    add_event(subject_id(1))
    result = runner.invoke(args=["consent", "deliver", "--once"])
    assert result.exit_code == 0, result.output
    assert "0 delivered, 1 to retry later, 0 dead-lettered" in result.output


def test_deliver_help_names_its_options(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["consent", "deliver", "--help"])
    assert result.exit_code == 0
    for option in ("--once", "--interval-ms", "--batch", "--concurrency"):
        assert option in result.output


def test_init_app_registers_the_api_and_the_command(app: Flask) -> None:
    assert "consent_webhooks" in app.blueprints
    assert "deliver" in app.cli.commands["consent"].commands  # type: ignore[attr-defined]


def test_the_ledger_queues_its_events_and_they_arrive_in_order(
    app: Flask, db: Session, catalog: Any, receiver: Receiver, subscribe: Any,
    make_worker: Any, make_subject: Any, decide: Any,
) -> None:  # fmt: skip
    subscribe(receiver.url, ("marketing_push", "analytics"), receiver=receiver)
    subject = make_subject(7)
    granted = decide(subject, "grant", "marketing_push", "analytics")
    withdrawn = decide(subject, "withdraw", "marketing_push")

    make_worker(db).drain()

    got = [(r.payload["kind"], r.payload["purpose"]) for r in receiver.delivered()]
    assert sorted(got[:2]) == [("grant", "analytics"), ("grant", "marketing_push")]
    assert got[2:] == [("withdraw", "marketing_push")]
    event_ids = [e.id for e in granted.events] + [e.id for e in withdrawn.events]
    assert sorted(r.payload["event_id"] for r in receiver.delivered()) == sorted(event_ids)
