"""Webhook test helpers: a real HTTP receiver, subscriptions, events, a clock and workers.

The receiver is a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) in a thread. It checks
every request's signature with :func:`consent.webhooks.verify_signature` against the
secret of the subscription named in its ``Idempotency-Key`` and answers 401 when it does
not verify; otherwise it answers the next scripted status (204 once the script is used
up). It records every request it saw.

Events are inserted as ``consent_events`` rows directly and queued with
:func:`consent.webhooks.outbox.enqueue` in the same transaction, as the ledger does.
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import ConsentEvent
from consent.webhooks import outbox, services
from consent.webhooks.delivery import DeliverySettings, Worker
from consent.webhooks.models import OUTBOX
from consent.webhooks.signing import SIGNATURE_HEADER, verify_signature
from governance.db import get_session, utcnow
from governance.profiles.crypto import profile_crypto
from governance.profiles.models import Subject


def subject_id(n: int) -> str:
    """A fictional opaque subject id (the audit log's shape: sub_ and 22 characters)."""
    return f"sub_webhook{n:015d}"


# -- the receiver ----------------------------------------------------------------------------


@dataclass
class Received:
    """One request the receiver saw."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int
    at: float  # time.monotonic()

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON body."""
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def key(self) -> str:
        """The Idempotency-Key header."""
        return self.headers["Idempotency-Key"]


@dataclass
class Receiver:
    """A real HTTP endpoint on loopback that verifies signatures."""

    server: http.server.ThreadingHTTPServer
    secrets: dict[str, str] = field(default_factory=dict)
    script: deque[int] = field(default_factory=deque)
    delay_s: float = 0.0
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"http://127.0.0.1:{self.server.server_port}/hooks/consent"

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with ``statuses``, in order (then 204 again)."""
        with self.lock:
            self.script.extend(statuses)

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> int:
        """Verify, pick the status, record."""
        if self.delay_s:
            time.sleep(self.delay_s)
        sub_id = headers.get("Idempotency-Key", "").partition(":")[0]
        secret = self.secrets.get(sub_id)
        verified = secret is not None and verify_signature(
            secret, headers.get(SIGNATURE_HEADER), body
        )
        with self.lock:
            status = (self.script.popleft() if self.script else 204) if verified else 401
            self.received.append(Received(path, headers, body, verified, status, time.monotonic()))
        with self.arrived:
            self.arrived.notify_all()
        return status

    def delivered(self) -> list[Received]:
        """Requests answered with a 2xx, in arrival order."""
        with self.lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        """Wait until ``count`` requests were delivered; return them."""
        deadline = time.monotonic() + timeout_s
        with self.arrived:
            while len(self.delivered()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
        return self.delivered()


def _handler(receiver_box: list[Receiver]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            status = receiver_box[0].handle(self.path, dict(self.headers.items()), body)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1; stopped after the test."""
    box: list[Receiver] = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(box))
    server.daemon_threads = True
    rec = Receiver(server)
    box.append(rec)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def refused_url() -> str:
    """A loopback URL nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/consent"


# -- subscriptions and events ----------------------------------------------------------------


@pytest.fixture
def subscribe(app: Flask, catalog: Any) -> Any:
    """Create an active subscription (committed); its secret goes to ``receiver`` if given.

    Returns the subscription id.
    """

    def make(
        url: str,
        purposes: tuple[str, ...] = ("marketing_push",),
        receiver: Receiver | None = None,
        name: str = "CRM sync (fictional)",
    ) -> str:
        with app.app_context():
            session = get_session()
            new = services.create_subscription(
                session,
                name=name,
                url=url,
                purposes=purposes,
                keyring=profile_crypto().keyring,
                production=False,
            )
            session.commit()
            sub_id = new.subscription.id
        if receiver is not None:
            receiver.secrets[sub_id] = new.secret
        return sub_id

    return make


_event_numbers = itertools.count(1)


@pytest.fixture
def add_event(app: Flask) -> Any:
    """Insert a consent event (subject created if new), enqueue it, commit; returns its id."""

    def add(
        subject: str,
        purpose: str = "marketing_push",
        kind: str = "withdraw",
        *,
        commit: bool = True,
        session: Session | None = None,
    ) -> int:
        with app.app_context():
            db = session or get_session()
            if db.get(Subject, subject) is None:
                db.add(Subject(id=subject, birth_year=1990))
                db.flush()
            event = ConsentEvent(
                subject_id=subject,
                purpose=purpose,
                kind=kind,
                tier="behaviour" if kind == "grant" else None,
                notice_version="2026-09",
                channel="portal",
                acted_by="subject",
                actor_id=subject,
                occurred_at=utcnow(),
                receipt_id=f"rcpt_{next(_event_numbers):012d}",
                audit_seq=0,
            )
            db.add(event)
            db.flush()
            outbox.enqueue(db, event)
            if commit:
                db.commit()
            return event.id

    return add


@pytest.fixture
def messages(app: Flask) -> Any:
    """Every outbox row, as mappings in id order (read on a connection of its own)."""
    from governance.db import get_engine

    def read(**where: Any) -> list[dict[str, Any]]:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id)
        for column, value in where.items():
            stmt = stmt.where(OUTBOX.c[column] == value)
        with get_engine(app).connect() as conn:
            return [dict(row) for row in conn.execute(stmt).mappings()]

    return read


# -- time, jitter and workers ----------------------------------------------------------------


class Clock:
    """A clock the test moves by hand; it starts a minute ahead, so what is queued is due."""

    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0) + dt.timedelta(minutes=1)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> dt.datetime:
        self.now += dt.timedelta(seconds=seconds)
        return self.now


class FixedRandom(random.Random):
    """A "random" source that always draws ``value`` (1.0: the full backoff, 0.0: half)."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock, starting now."""
    return Clock()


#: Delivery settings of the tests: retries after 10 s, 20 s, 40 s, ... up to 80 s.
TEST_SETTINGS = DeliverySettings(
    timeout_s=2.0,
    backoff_base_s=10.0,
    backoff_cap_s=80.0,
    max_attempts=3,
    batch_size=32,
    concurrency=4,
)


@pytest.fixture
def make_worker(app: Flask, clock: Clock) -> Iterator[Any]:
    """A worker on the current app context's session (call inside ``with app.app_context()``).

    Defaults: the test clock, full backoff (no jitter drawn), :data:`TEST_SETTINGS`.
    """
    made: list[Worker] = []

    def make(session: Session | None = None, **overrides: Any) -> Worker:
        settings = overrides.pop("settings", TEST_SETTINGS)
        worker = Worker(
            session or get_session(),
            settings,
            profile_crypto(app).keyring,
            clock=overrides.pop("clock", clock),
            rng=overrides.pop("rng", FixedRandom(1.0)),
            **overrides,
        )
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()
