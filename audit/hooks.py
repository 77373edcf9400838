"""What the rest of the platform tells the audit trail, and how refusals are answered.

- Sign-in events (:mod:`governance.auth.signals`) become ``auth.login`` entries, allowed or
  denied with the reason; the operator is named by id, never by the username typed.
- An entry refused for PII or malformed content answers 422 with a problem document that
  names where and what kind of PII, never the text; nothing of the request is written.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_app_context

from audit.log import InvalidAuditEntry
from audit.pii import PiiInAuditEntry
from governance.auth import signals
from governance.errors import problem_response


def _login_failed(_sender: Any, **kwargs: Any) -> None:
    if not has_app_context() or "audit.appended" not in current_app.extensions:
        return
    from audit import record
    from governance.db import get_session

    operator_id = kwargs.get("operator_id")
    actor = (
        ("operator", str(operator_id)) if operator_id is not None else ("anonymous", "anonymous")
    )
    record(
        get_session(),
        action="auth.login",
        decision="deny",
        reasons=[str(kwargs.get("reason", "unknown"))],
        resource="console",
        actor=actor,
    )


def _login_succeeded(_sender: Any, **kwargs: Any) -> None:
    if not has_app_context() or "audit.appended" not in current_app.extensions:
        return
    from audit import record
    from governance.db import get_session

    record(
        get_session(),
        action="auth.login",
        decision="allow",
        resource="console",
        actor=("operator", str(kwargs["operator_id"])),
    )


signals.login_failed.connect(_login_failed, weak=False)
signals.login_succeeded.connect(_login_succeeded, weak=False)


def _refused(exc: Exception) -> Any:
    from flask import g

    session = g.get("db_session")
    if session is not None:
        session.rollback()
    return problem_response("audit-entry-refused", str(exc))


def init_app(app: Flask) -> None:
    """Answer refused audit entries with a 422 problem document."""
    app.register_error_handler(PiiInAuditEntry, _refused)
    app.register_error_handler(InvalidAuditEntry, _refused)
