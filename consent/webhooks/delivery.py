"""Delivering the outbox: claim due messages, POST them signed, record what happened.

One round of a :class:`Worker`:

1. **Claim** (one short transaction, committed): pick up to ``batch_size`` messages that
   are ``pending``, due (``next_attempt_at <= now``), of an active subscription, and have
   no earlier ``pending`` or ``dead`` message for the same subscription and subject;
   then, in one conditional ``UPDATE ... WHERE status = 'pending' AND next_attempt_at <=
   now ... RETURNING``, count an attempt, write the round's claim token into
   ``claimed_by`` and move ``next_attempt_at`` forward by the lease. A row another worker
   claimed first no longer matches the ``UPDATE``, so each message goes to one worker.
   On PostgreSQL the pick is ``SELECT ... FOR UPDATE OF consent_outbox SKIP LOCKED``, so
   concurrent workers take different rows instead of waiting for each other; on SQLite
   (one writer at a time) the conditional ``UPDATE`` alone decides, and a worker that
   lost the race simply picks again. The same code runs on both.
2. **Send**, outside any transaction (no lock or connection is held during the HTTP
   call), several at a time (``concurrency``). A round holds at most one message per
   subscription and subject, so sending in parallel never reorders a subject's messages.
3. **Record** each outcome in its own transaction, only while the claim is still ours
   (``claimed_by`` = our token, still ``pending``): 2xx is ``delivered``; anything else
   (another status, a refused connection, a timeout, a TLS error) is a failure, retried
   after an exponential backoff with jitter, or ``dead`` once ``max_attempts`` attempts
   failed. A dead letter is an audit entry (``consent.webhook.dead``, ids only); other
   outcomes are not (one per attempt would flood the trail).

Guarantees: **at least once** (a message stays pending until a 2xx is recorded; a
worker that dies mid-send leaves it claimed until the lease runs out, then another
worker sends it again), **in order per subscription and subject** (a message waits
while an earlier one is pending, in backoff included, or dead: a dead letter holds back
that subject's later messages until the DPO retries or discards it, because delivering
a grant after a withdrawal that never arrived would leave the subscriber believing the
grant stands). Subscribers deduplicate with the ``Idempotency-Key`` header.

The lease is generous: twice the time a round's sends can take with every subscriber
timing out, plus 30 s. A lease that runs out mid-send causes a duplicate, never a loss.
"""

from __future__ import annotations

import datetime as dt
import http.client
import itertools
import logging
import math
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import audit
from consent.webhooks.models import BLOCKING, OUTBOX, SUBSCRIPTIONS
from consent.webhooks.services import idempotency_key, rowcount, unwrap_secret
from consent.webhooks.signing import SIGNATURE_HEADER, sign
from governance.db import utcnow
from governance.keys import KeyError_, Keyring

__all__ = [
    "Claimed",
    "DeliverySettings",
    "Outcome",
    "Totals",
    "Worker",
    "backoff_seconds",
    "claim",
    "post",
    "record_outcome",
]

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
EVENT_ID_HEADER = "X-Governance-Event-Id"
ATTEMPT_HEADER = "X-Governance-Delivery-Attempt"
USER_AGENT = "privacy-governance-webhooks/1"
#: Bytes of a response read (then dropped): a subscriber's answer is its status alone.
MAX_RESPONSE_BYTES = 65_536
LEASE_MARGIN_S = 30.0


@dataclass(frozen=True)
class DeliverySettings:
    """How the worker sends and retries (from ``GOVERNANCE_CONSENT_WEBHOOK_*``)."""

    timeout_s: float = 5.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 3600.0
    max_attempts: int = 20
    batch_size: int = 32
    concurrency: int = 8

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> DeliverySettings:
        """Read the app's settings; ``overrides`` (batch size, concurrency) win."""
        values: dict[str, Any] = {
            "timeout_s": float(config["CONSENT_WEBHOOK_TIMEOUT_SECONDS"]),
            "backoff_base_s": float(config["CONSENT_WEBHOOK_BACKOFF_BASE_SECONDS"]),
            "backoff_cap_s": float(config["CONSENT_WEBHOOK_BACKOFF_CAP_SECONDS"]),
            "max_attempts": int(config["CONSENT_WEBHOOK_MAX_ATTEMPTS"]),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def lease_s(self) -> float:
        """How long a claim lasts: every send of a round timing out, twice, plus a margin."""
        waves = math.ceil(self.batch_size / max(1, self.concurrency))
        return 2 * waves * self.timeout_s + LEASE_MARGIN_S


def backoff_seconds(
    failures: int, base_s: float, cap_s: float, rng: random.Random | None = None
) -> float:
    """Delay before the next attempt after ``failures`` failed ones (1, 2, ...).

    Exponential, capped, with "equal jitter": ``d = min(cap, base * 2**(failures-1))``,
    then a uniformly random delay between ``d/2`` and ``d``, so that many messages that
    failed together (a subscriber's outage) do not all come back at the same instant.
    """
    exponent = min(max(failures, 1) - 1, 62)
    ceiling = min(cap_s, base_s * (2**exponent))
    draw = (rng or random).random()
    return ceiling / 2 + draw * ceiling / 2


# -- sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to: delivered, or why not (a code, never a body)."""

    delivered: bool
    status: int | None = None
    error: str | None = None


def post(url: str, body: bytes, headers: Mapping[str, str], timeout_s: float) -> Outcome:
    """POST ``body`` to ``url``; never follows a redirect; a 2xx status is delivery.

    ``timeout_s`` bounds connecting and each read or write. Failures come back as
    :class:`Outcome` codes: ``http_<status>``, ``connection_refused``, ``timeout``,
    ``tls_error``, ``dns_error``, ``protocol_error``, ``network_error``.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, parts.port, timeout=timeout_s, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout_s)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        conn.request("POST", target, body=body, headers=dict(headers))
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)
        status = response.status
    except ConnectionRefusedError:
        return Outcome(False, None, "connection_refused")
    except TimeoutError:
        return Outcome(False, None, "timeout")
    except ssl.SSLError:
        return Outcome(False, None, "tls_error")
    except socket.gaierror:
        return Outcome(False, None, "dns_error")
    except http.client.HTTPException:
        return Outcome(False, None, "protocol_error")
    except OSError:
        return Outcome(False, None, "network_error")
    finally:
        conn.close()
    if 200 <= status < 300:
        return Outcome(True, status, None)
    return Outcome(False, status, f"http_{status}")


# -- claiming and recording ----------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A message this worker owns until its lease runs out."""

    id: int
    subscription_id: str
    subject_id: str
    event_id: int
    purpose: str
    payload: str
    attempts: int  # including the one being made
    token: str


def claim(
    session: Session, *, token: str, now: dt.datetime, limit: int, lease_s: float
) -> list[Claimed]:
    """Claim up to ``limit`` due messages for ``token`` (see the module docstring).

    The caller commits at once, before sending anything.
    """
    o = OUTBOX
    earlier = OUTBOX.alias("earlier")
    held_back = exists().where(
        earlier.c.subscription_id == o.c.subscription_id,
        earlier.c.subject_id == o.c.subject_id,
        earlier.c.status.in_(BLOCKING),
        earlier.c.id < o.c.id,
    )
    active = exists().where(
        SUBSCRIPTIONS.c.id == o.c.subscription_id, SUBSCRIPTIONS.c.active.is_(True)
    )
    due = and_(o.c.status == "pending", o.c.next_attempt_at <= now)
    picked = list(
        session.scalars(
            select(o.c.id)
            .where(due, active, ~held_back)
            .order_by(o.c.id)
            .limit(limit)
            .with_for_update(of=o, skip_locked=True)
        )
    )
    if not picked:
        return []
    rows = session.execute(
        update(o)
        .where(o.c.id.in_(picked), due)
        .values(
            attempts=o.c.attempts + 1,
            claimed_by=token,
            next_attempt_at=now + dt.timedelta(seconds=lease_s),
            last_attempt_at=now,
        )
        .returning(
            o.c.id,
            o.c.subscription_id,
            o.c.subject_id,
            o.c.event_id,
            o.c.purpose,
            o.c.payload,
            o.c.attempts,
        )
    ).all()
    claimed = [
        Claimed(
            id=row.id,
            subscription_id=row.subscription_id,
            subject_id=row.subject_id,
            event_id=row.event_id,
            purpose=row.purpose,
            payload=row.payload,
            attempts=row.attempts,
            token=token,
        )
        for row in rows
    ]
    return sorted(claimed, key=lambda m: m.id)


def record_outcome(
    session: Session,
    message: Claimed,
    outcome: Outcome,
    *,
    now: dt.datetime,
    settings: DeliverySettings,
    rng: random.Random | None = None,
) -> str:
    """Write ``outcome`` for a claimed message; the caller commits.

    Returns the message's new status (``delivered``, ``pending`` for a retry later,
    ``dead``), or ``lost`` when the claim is no longer ours (the lease ran out and another
    worker claimed it, or the DPO or a deactivation changed it): nothing is written then.
    """
    o = OUTBOX
    values: dict[str, Any] = {
        "claimed_by": None,
        "last_status": outcome.status,
        "last_error": outcome.error,
    }
    if outcome.delivered:
        new = "delivered"
        values |= {"status": new, "delivered_at": now}
    elif message.attempts >= settings.max_attempts:
        new = "dead"
        values |= {"status": new}
    else:
        new = "pending"
        delay = backoff_seconds(
            message.attempts, settings.backoff_base_s, settings.backoff_cap_s, rng
        )
        values |= {"next_attempt_at": now + dt.timedelta(seconds=delay)}
    written = rowcount(
        session.execute(
            update(o)
            .where(o.c.id == message.id, o.c.claimed_by == message.token, o.c.status == "pending")
            .values(**values)
        )
    )
    if not written:
        return "lost"
    if new == "dead":
        audit.record(
            session,
            action="consent.webhook.dead",
            decision="error",
            subject=message.subject_id,
            purpose=message.purpose,
            resource=f"webhook:{message.subscription_id}",
            reasons=[outcome.error or "failed"],
            details={
                "message_id": message.id,
                "event_id": message.event_id,
                "subscription_id": message.subscription_id,
                "attempts": message.attempts,
                "last_status": outcome.status,
            },
        )
    return new


# -- the worker ------------------------------------------------------------------------------


@dataclass
class Totals:
    """What a worker did: messages claimed, and how their attempts ended."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    lost: int = 0
    rounds: int = 0

    def add(self, other: Totals) -> None:
        """Add ``other``'s counts to these."""
        for name in ("claimed", "delivered", "retrying", "dead", "lost", "rounds"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class _Target:
    url: str
    secret: bytes | None  # None: the secret does not unwrap (fails closed: nothing sent)


Sender = Callable[[str, bytes, Mapping[str, str], float], Outcome]


@dataclass
class Worker:
    """Delivers due messages with the command's session, committing after each step.

    The worker is a command boundary: it commits its claims and each outcome itself (the
    services it calls do not). ``clock`` decides what is due and when retries are; the
    signature's timestamp is always the real time, which receivers compare with theirs.
    """

    session: Session
    settings: DeliverySettings
    keyring: Keyring
    clock: Callable[[], dt.datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)
    send: Sender = post
    name: str = ""
    totals: Totals = field(default_factory=Totals)

    def __post_init__(self) -> None:
        if not self.name:
            host = socket.gethostname()[:24]
            self.name = f"{host}:{os.getpid()}:{os.urandom(3).hex()}"
        self._rounds = itertools.count(1)
        self._secrets: dict[str, tuple[str, bytes | None]] = {}
        self._pool: ThreadPoolExecutor | None = None
        if self.settings.concurrency > 1:
            self._pool = ThreadPoolExecutor(
                self.settings.concurrency, thread_name_prefix="webhook-send"
            )

    def close(self) -> None:
        """Stop the sending threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- one round

    def _targets(self, subscription_ids: set[str]) -> dict[str, _Target]:
        rows = self.session.execute(
            select(SUBSCRIPTIONS.c.id, SUBSCRIPTIONS.c.url, SUBSCRIPTIONS.c.secret_wrapped).where(
                SUBSCRIPTIONS.c.id.in_(sorted(subscription_ids)),
                SUBSCRIPTIONS.c.active.is_(True),
            )
        ).all()
        out = {}
        for sub_id, url, wrapped in rows:
            cached = self._secrets.get(sub_id)
            if cached is None or cached[0] != wrapped:
                try:
                    secret: bytes | None = unwrap_secret(self.keyring, sub_id, wrapped)
                except (InvalidTag, KeyError_, ValueError):
                    log.error("webhook secret does not unwrap", extra={"subscription": sub_id})
                    secret = None
                cached = (wrapped, secret)
                self._secrets[sub_id] = cached
            out[sub_id] = _Target(url, cached[1])
        return out

    def _attempt(self, message: Claimed, target: _Target) -> Outcome:
        if target.secret is None:
            return Outcome(False, None, "secret_unavailable")
        body = message.payload.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            SIGNATURE_HEADER: sign(target.secret, body, int(time.time())),
            IDEMPOTENCY_HEADER: idempotency_key(message.subscription_id, message.event_id),
            EVENT_ID_HEADER: str(message.event_id),
            ATTEMPT_HEADER: str(message.attempts),
        }
        return self.send(target.url, body, headers, self.settings.timeout_s)

    def _record(self, message: Claimed, outcome: Outcome, result: Totals) -> None:
        try:
            new = record_outcome(
                self.session, message, outcome, now=self.clock(), settings=self.settings,
                rng=self.rng,
            )  # fmt: skip
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if new == "pending":
            result.retrying += 1
        else:
            setattr(result, new, getattr(result, new) + 1)
        if new in ("dead", "lost"):
            log.warning(
                "webhook message dead-lettered or claim lost",
                extra={
                    "message_id": message.id,
                    "subscription": message.subscription_id,
                    "outcome": new,
                },
            )

    def run_once(self) -> Totals:
        """Claim one batch of due messages, send them and record the outcomes."""
        result = Totals(rounds=1)
        token = f"{self.name}/{next(self._rounds)}"
        try:
            claimed = claim(
                self.session,
                token=token,
                now=self.clock(),
                limit=self.settings.batch_size,
                lease_s=self.settings.lease_s,
            )
            targets = self._targets({m.subscription_id for m in claimed}) if claimed else {}
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        result.claimed = len(claimed)
        # A subscription deactivated since the claim: its messages were discarded with it.
        ready = [(m, targets[m.subscription_id]) for m in claimed if m.subscription_id in targets]
        result.lost += len(claimed) - len(ready)
        if self._pool is None or len(ready) <= 1:
            for message, target in ready:
                self._record(message, self._attempt(message, target), result)
        else:
            futures: dict[Future[Outcome], Claimed] = {
                self._pool.submit(self._attempt, message, target): message
                for message, target in ready
            }
            for future in as_completed(futures):
                self._record(futures[future], future.result(), result)
        self.totals.add(result)
        return result

    def drain(self, max_rounds: int | None = None) -> Totals:
        """Deliver what is due now (and what becomes due as earlier messages go), then stop."""
        done = Totals()
        for _ in itertools.count() if max_rounds is None else range(max_rounds):
            result = self.run_once()
            done.add(result)
            if result.claimed == 0:
                break
        return done

    def run(self, interval_s: float, stop: threading.Event) -> Totals:
        """Deliver until ``stop`` is set, polling every ``interval_s`` when idle.

        A database error (unreachable, locked) is logged and retried after the interval;
        any other error ends the loop.
        """
        done = Totals()
        while not stop.is_set():
            try:
                result = self.run_once()
            except DBAPIError as exc:
                log.error("webhook delivery round failed", extra={"error_type": type(exc).__name__})
                stop.wait(interval_s)
                continue
            done.add(result)
            if result.claimed == 0:
                stop.wait(interval_s)
        return done
