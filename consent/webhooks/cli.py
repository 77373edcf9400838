"""``governance consent deliver``: the webhook delivery worker.

``--once`` delivers what is due now (and what becomes due as earlier messages of the same
subject go through), prints a summary and exits. Without it the worker keeps going,
polling every ``--interval-ms`` while idle, until Ctrl-C or SIGTERM; the first signal
lets the current round finish (no claimed message is left waiting for its lease), a
second Ctrl-C stops at once. Run as many workers as you like, on as many hosts: each
message is claimed by one of them (see :mod:`consent.webhooks.delivery`).
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click
from flask import current_app

from consent.cli import consent_group
from consent.webhooks import services
from consent.webhooks.delivery import DeliverySettings, Totals, Worker
from governance.db import get_session
from governance.profiles.crypto import profile_crypto


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (a second SIGINT interrupts as usual)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only; the caller stops us another way
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _summary(totals: Totals) -> str:
    return (
        f"{totals.delivered} delivered, {totals.retrying} to retry later, "
        f"{totals.dead} dead-lettered ({totals.claimed} attempts in {totals.rounds} rounds)"
    )


@consent_group.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option(
    "--interval-ms",
    type=click.IntRange(10, 60_000),
    default=None,
    help="Poll interval while idle (default: GOVERNANCE_CONSENT_WEBHOOK_POLL_INTERVAL_MS).",
)
@click.option(
    "--batch", type=click.IntRange(1, 1000), default=32, show_default=True,
    help="Messages claimed per round.",
)  # fmt: skip
@click.option(
    "--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
    help="Requests in flight at once.",
)  # fmt: skip
def deliver_command(once: bool, interval_ms: int | None, batch: int, concurrency: int) -> None:
    """Send pending consent-change webhooks (at least once, in order per subject)."""
    config = current_app.config
    settings = DeliverySettings.from_config(config, batch_size=batch, concurrency=concurrency)
    interval_s = (interval_ms or config["CONSENT_WEBHOOK_POLL_INTERVAL_MS"]) / 1000
    with Worker(get_session(), settings, profile_crypto().keyring) as worker:
        if once:
            totals = worker.drain()
        else:
            stop = threading.Event()
            click.echo(f"delivering consent webhooks as {worker.name}; Ctrl-C stops", err=True)
            with _stop_on_signals(stop):
                totals = worker.run(interval_s, stop)
    click.echo(_summary(totals))


@consent_group.command("purge-outbox")
@click.option(
    "--older-than-days", type=click.IntRange(1, None), default=30, show_default=True,
    help="Delete messages delivered or discarded more than this many days ago.",
)  # fmt: skip
def purge_outbox_command(older_than_days: int) -> None:
    """Delete old delivered and discarded webhook messages (never pending or dead ones)."""
    session = get_session()
    purged = services.purge_finished(session, older_than=dt.timedelta(days=older_than_days))
    session.commit()
    click.echo(
        f"{purged} delivered or discarded messages older than {older_than_days} days deleted"
    )
