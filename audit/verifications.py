"""Verification runs: run one, record it twice (a row and a log entry), read the last.

The console's "verify now" runs and records with :func:`run_and_record`; the CLI
(``governance audit verify``), which shows progress and may skip recording, verifies
itself and records with :func:`record_report`. Either way, the row in
``audit_verifications`` lets the console and the compliance self-check find the last
result with one lookup; the ``audit.verify`` entry puts the run itself under the log's
own tamper evidence. A failed run is also logged at ERROR level (the check and entry
number only), for log-based alerting. The caller commits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from audit import record, request_actor
from audit.log import format_time
from audit.models import AuditVerification
from audit.verify import Report, verify_database
from governance.db import utcnow

_log = logging.getLogger(__name__)


def record_report(session: Session, report: Report, started_at: str) -> AuditVerification:
    """Store ``report`` as a verification row and an ``audit.verify`` entry."""
    failure = report.failure
    appended = record(
        session,
        action="audit.verify",
        decision="allow" if report.ok else "error",
        reasons=[] if failure is None else [f"failed:{failure.check}"],
        resource="audit_log",
        details={
            "ok": report.ok,
            "entries_checked": report.entries_checked,
            "tree_size": report.tree_size,
            "checkpoints_checked": report.checkpoints_checked,
            "since_checkpoint": report.since_checkpoint,
            "first_bad_entry": None if failure is None else failure.entry,
            "bad_checkpoint": None if failure is None else failure.checkpoint,
        },
    )
    actor_type, actor_id = request_actor()
    run = AuditVerification(
        started_at=started_at,
        finished_at=format_time(utcnow()),
        actor_type=actor_type,
        actor_id=actor_id,
        ok=report.ok,
        since_checkpoint=report.since_checkpoint,
        entries_checked=report.entries_checked,
        checkpoints_checked=report.checkpoints_checked,
        tree_size=report.tree_size,
        root_hash=report.root_hash,
        failure_check=None if failure is None else failure.check,
        failure_message=None if failure is None else failure.message,
        failure_entry=None if failure is None else failure.entry,
        failure_checkpoint=None if failure is None else failure.checkpoint,
        audit_seq=appended.seq,
    )
    session.add(run)
    session.flush()
    if failure is not None:
        # For log-based alerting beside the console's alert: checks and numbers only.
        _log.error(
            "audit verification failed",
            extra={
                "check": failure.check,
                "entry": failure.entry,
                "checkpoint": failure.checkpoint,
                "tree_size": report.tree_size,
            },
        )
    return run


def run_and_record(
    session: Session,
    engine: Engine,
    keys: Mapping[str, Ed25519PublicKey],
    *,
    origin: str | None,
    since_checkpoint: bool = False,
) -> tuple[Report, AuditVerification]:
    """Verify the log in ``engine`` and record the outcome in ``session`` (not committed)."""
    started_at = format_time(utcnow())
    report = verify_database(
        engine,
        keys,
        origin=origin,
        since_checkpoint=since_checkpoint,
    )
    return report, record_report(session, report, started_at)


def latest_verification(session: Session) -> AuditVerification | None:
    """The newest recorded verification run, or None if the log was never verified."""
    statement = select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)
    return session.scalars(statement).first()


def verifications_page(
    session: Session, *, before_id: int | None = None, limit: int = 20
) -> tuple[list[AuditVerification], int | None]:
    """Runs with ``id < before_id``, newest first, and the next cursor (or None)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    statement = select(AuditVerification).order_by(AuditVerification.id.desc()).limit(limit + 1)
    if before_id is not None:
        statement = statement.where(AuditVerification.id < before_id)
    found = list(session.scalars(statement))
    if len(found) > limit:
        del found[limit:]
        return found, found[-1].id
    return found, None
