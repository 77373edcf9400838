"""Propagation of consent changes: subscriptions, a transactional outbox, signed webhooks.

A downstream service subscribes a URL to the purposes it cares about and gets a secret
once. Each consent event is queued, in the event's own transaction, for every active
subscription to its purpose (:mod:`consent.webhooks.outbox`); ``governance consent
deliver`` POSTs the messages, signed, at least once and in order per subscriber and
subject, with backoff and a dead-letter state the DPO works through
(:mod:`consent.webhooks.delivery`). Receivers check signatures with
:func:`verify_signature` (:mod:`consent.webhooks.signing`, standard library only).

Modules: ``models`` (tables), ``outbox`` (enqueue), ``services`` (subscriptions, dead
letters), ``delivery`` (worker), ``signing`` (HMAC), ``views`` (API), ``cli`` (command).
Formats and semantics for subscribers are in docs/consent.md.
"""

from __future__ import annotations

from flask import Flask

from consent.webhooks.signing import SIGNATURE_HEADER, sign, verify_signature

__all__ = ["SIGNATURE_HEADER", "init_app", "sign", "verify_signature"]


def init_app(app: Flask) -> None:
    """Register the webhooks API and attach ``deliver`` to the ``consent`` command group.

    :func:`consent.init_app` registers the group itself.
    """
    from consent.webhooks import cli as _deliver  # noqa: F401 - attaches 'deliver'
    from consent.webhooks import views

    views.init_app(app)
