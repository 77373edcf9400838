"""The append-only audit trail: hash chain, Merkle tree, signed checkpoints, proofs.

Every capability records what it did with :func:`record` (inside a request or command)
or :func:`audit.log.append` (with an explicit actor). Entries are validated and checked
for PII before anything is written; the entry commits with the caller's transaction.

Modules: :mod:`audit.merkle` (RFC 9162 hashing and proofs, pure), :mod:`audit.canonical`
(the hashed bytes), :mod:`audit.checkpoint` (signed tree heads, pure),
:mod:`audit.log` (append, checkpoints, proofs from the database), :mod:`audit.verify`
(full and incremental verification), :mod:`audit.pii` (the PII hook).
"""

from __future__ import annotations

import atexit
import logging
import weakref
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask, current_app, g, has_request_context

from audit.log import Appended, EntryDraft, InvalidAuditEntry, Signer, append, append_many
from audit.pii import PiiInAuditEntry

__all__ = [
    "Appended",
    "EntryDraft",
    "InvalidAuditEntry",
    "PiiInAuditEntry",
    "Signer",
    "append",
    "append_many",
    "get_signer",
    "init_app",
    "public_keys",
    "record",
    "record_many",
]

_log = logging.getLogger(__name__)

_SIGNER = "audit.signer"


def log_origin(app: Flask) -> str:
    """The log's name in its checkpoints: the setting, or ``<public host>/audit``."""
    configured: str | None = app.config.get("AUDIT_LOG_ORIGIN")
    if configured:
        return configured
    host = urlsplit(app.config["PUBLIC_BASE_URL"]).netloc or "localhost"
    return f"{host}/audit"


def get_signer(app: Flask | None = None) -> Signer:
    """The app's checkpoint signer (the key is read once)."""
    from governance.keys import load_signing_key

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    signer: Signer | None = app.extensions.get(_SIGNER)
    if signer is None:
        signer = Signer(
            key=load_signing_key(app.config["KEY_PATHS"].audit_signing),
            origin=log_origin(app),
            interval_seconds=app.config["AUDIT_CHECKPOINT_INTERVAL_SECONDS"],
        )
        app.extensions[_SIGNER] = signer
    return signer


def public_keys(app: Flask | None = None) -> dict[str, Ed25519PublicKey]:
    """Public keys that verify this log's checkpoints, by key id."""
    signer = get_signer(app)
    return {signer.key_id: signer.key.public_key()}


def request_actor() -> tuple[str, str]:
    """(type, id) of the request's actor; ``system/cli`` in a command."""
    if has_request_context():
        from governance.auth.actors import current_actor

        actor = current_actor()
        return actor.type, actor.id
    return "system", "cli"


def record(
    session: Any,
    *,
    action: str,
    decision: str = "allow",
    subject: str | None = None,
    purpose: str | None = None,
    resource: str | None = None,
    reasons: Sequence[str] = (),
    policy_hash: str | None = None,
    details: Mapping[str, Any] | None = None,
    actor: tuple[str, str] | None = None,
) -> Appended:
    """Append an entry for the current request or command; the caller commits.

    The actor defaults to the request's actor (``system/cli`` in a command) and the
    request id to the request's. Periodic checkpoints are signed as configured.
    """
    actor_type, actor_id = actor or request_actor()
    request_id = g.get("request_id") if has_request_context() else None
    appended = append(
        session,
        action=action,
        actor_type=actor_type,
        actor_id=actor_id,
        decision=decision,
        subject=subject,
        purpose=purpose,
        resource=resource,
        reasons=reasons,
        policy_hash=policy_hash,
        request_id=request_id,
        details=details,
        signer=get_signer(),
    )
    current_app.extensions["audit.appended"] = True
    return appended


def record_many(session: Any, entries: Sequence[Mapping[str, Any]]) -> list[Appended]:
    """Append several entries of the current request or command in one go; caller commits.

    Each mapping takes :func:`record`'s keyword arguments but ``actor``: one lock and one
    head update for all of them.
    """
    actor_type, actor_id = request_actor()
    request_id = g.get("request_id") if has_request_context() else None
    drafts = [
        EntryDraft(actor_type=actor_type, actor_id=actor_id, request_id=request_id, **entry)
        for entry in entries
    ]
    appended = append_many(session, drafts, signer=get_signer())
    current_app.extensions["audit.appended"] = True
    return appended


def checkpoint_at_shutdown(app: Flask) -> None:
    """Sign the head if this process appended since the last checkpoint (at exit)."""
    if not app.extensions.get("audit.appended"):
        return
    from audit.log import create_checkpoint
    from governance.db import get_session

    try:
        with app.app_context():
            session = get_session()
            info, created = create_checkpoint(session, get_signer(app))
            session.commit()
            if created:
                _log.info("audit checkpoint at shutdown", extra={"tree_size": info.tree_size})
    except Exception as exc:  # at exit: report it and carry on exiting
        _log.error("audit checkpoint at shutdown failed", extra={"error_type": type(exc).__name__})


def _at_exit(ref: weakref.ref[Flask]) -> None:
    app = ref()
    if app is not None:
        checkpoint_at_shutdown(app)


def init_app(app: Flask) -> None:
    """Validate settings, hook errors, signals, the CLI and the API into ``app``."""
    from audit import cli, hooks, views

    app.extensions["audit.appended"] = False
    hooks.init_app(app)
    cli.init_app(app)
    views.init_app(app)
    if app.config["AUDIT_CHECKPOINT_ON_SHUTDOWN"]:
        atexit.register(_at_exit, weakref.ref(app))
