"""Filing and working data-subject requests; every state change is an audit entry.

A customer files a request for themselves (:func:`submit`). What the law lets them do
alone happens at once, and the request is completed as it is filed:

- ``access`` and ``portability`` (arts. 45, 50): the copy is built when it is downloaded
  (:mod:`governance.requests.export`), through the guarded read;
- ``explanation`` (art. 48): purposes, legal bases, recipients, retention
  (:mod:`governance.requests.explanation`);
- ``restriction`` and ``restriction_lift`` (art. 44): ``subjects.restricted_at`` is set
  or cleared, so the policy denies everyone else (``processing_restricted``) from the
  commit on;
- ``correction`` (art. 46) of what the customer states about themselves: the new values
  go through the profile store (catalog, PII guard, encryption) and are audited by field
  name; the request keeps the names only. Fields the brand keeps from its own records
  (orders, visits, membership, system ids, agents' notes: :data:`BRAND_KEPT_CATEGORIES`)
  are named without values and wait for the DPO, who checks the records and has them
  corrected through the profile API.

``erasure`` (art. 47) waits for the DPO, who may have to keep data a law requires
(art. 47, para. 2): :func:`execute_erasure` crypto-shreds the subject
(:func:`governance.profiles.erasure.erase_subject`) and needs a step-up: a second factor
entered in the last :data:`governance.auth.actors.STEP_UP_MINUTES` minutes. The DPO
starts, completes or rejects (with a reason code) the requests that wait
(:func:`transition`).

Services receive the session; the views commit.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, String, literal, select, tuple_, update
from sqlalchemy.orm import Session

import audit
from consent import ledger
from consent.catalog.models import CatalogField
from governance.auth.actors import Actor, require_step_up
from governance.brands import sees
from governance.db import UTCDateTime, utcnow
from governance.errors import ApiError
from governance.profiles.erasure import erase_subject
from governance.profiles.models import Subject
from governance.profiles.store import load_field_specs, prepare_values, put_values
from governance.requests.models import ACTIVE_STATUSES, KINDS, STATUSES, SubjectRequest

__all__ = [
    "BRAND_KEPT_CATEGORIES",
    "REJECT_REASONS",
    "REQUEST_REASONS",
    "Page",
    "QueueFilter",
    "execute_erasure",
    "for_subject",
    "queue",
    "request_json",
    "subject_requests",
    "submit",
    "transition",
    "visible_request",
]

REQUEST_ID_PREFIX = "dsr_"
#: Kinds that are answered as they are filed.
AT_ONCE = frozenset({"access", "portability", "explanation", "restriction", "restriction_lift"})
#: Catalog categories the brand keeps from its own records: a customer disputes them, the
#: DPO checks the records and has them corrected (never set by the customer directly).
BRAND_KEPT_CATEGORIES = frozenset(
    {"behaviour", "transaction", "membership", "identity", "service", "location"}
)
#: Why a customer asks (optional; codes only, never free text).
REQUEST_REASONS = (
    "inaccurate",
    "incomplete",
    "outdated",
    "no_longer_needed",
    "consent_withdrawn",
    "unlawful_processing",
    "other",
)
#: Why the DPO turns a request down.
REJECT_REASONS = (
    "identity_not_verified",
    "legal_retention",
    "manifestly_unfounded",
    "duplicate",
    "records_accurate",
    "out_of_scope",
    "other",
)
#: A DPO's note is kept with the result; it is short and checked for PII.
MAX_NOTE_LENGTH = 500

CREATE_ACTION = "subject_request.create"
START_ACTION = "subject_request.start"
COMPLETE_ACTION = "subject_request.complete"
REJECT_ACTION = "subject_request.reject"
RESTRICT_ACTION = "subject.restrict"
LIFT_ACTION = "subject.restrict.lift"
WRITE_ACTION = "profile.write"

NO_SUCH_REQUEST = "No such request."


def new_request_id() -> str:
    """An opaque request id: ``dsr_`` and 128 random bits."""
    return REQUEST_ID_PREFIX + secrets.token_urlsafe(16)[:22]


def iso(moment: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC, or None."""
    return None if moment is None else ledger.as_utc(moment).isoformat()


def request_json(row: SubjectRequest, now: dt.datetime | None = None) -> dict[str, Any]:
    """A request as the API shows it (ids, codes, names, times; never a value)."""
    now = now or utcnow()
    return {
        "id": row.id,
        "subject": row.subject_id,
        "brand": row.brand_id,
        "kind": row.kind,
        "status": row.status,
        "channel": row.channel,
        "requested_by": {"type": row.requested_by_type, "id": row.requested_by_id},
        "handled_by": row.handled_by,
        "created_at": iso(row.created_at),
        "due_at": iso(row.due_at),
        "closed_at": iso(row.closed_at),
        "overdue": row.status in ACTIVE_STATUSES and ledger.as_utc(row.due_at) < now,
        "details": dict(row.details or {}),
        "result": None if row.result is None else dict(row.result),
    }


# -- filing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """What a customer asks for (already checked for shape by the view's schema)."""

    kind: str
    reason: str | None = None
    values: Mapping[str, Any] | None = None  # correction: applied at once
    fields: Sequence[str] = ()  # correction: for the DPO to review (names only)
    confirm: bool = False  # erasure: the customer confirmed it
    channel: str = "portal"


def _own_subject(session: Session, actor: Actor, subject_id: str) -> Subject:
    """The customer's own subject row; 404 for anyone else's (as for one that does not exist)."""
    subject = session.get(Subject, subject_id) if actor.type == "subject" else None
    if subject is None or actor.id != subject_id:
        raise ApiError("not-found", ledger.NO_SUCH_SUBJECT)
    return subject


def _check_no_open(session: Session, subject_id: str, kind: str) -> None:
    """One open request of a kind at a time: a second is refused, naming the first."""
    existing = session.scalar(
        select(SubjectRequest.id).where(
            SubjectRequest.subject_id == subject_id,
            SubjectRequest.kind == kind,
            SubjectRequest.status.in_(ACTIVE_STATUSES),
        )
    )
    if existing is not None:
        raise ApiError(
            "conflict",
            f"A {kind} request of yours is still open: {existing}.",
            members={"request": existing},
        )


def _correction_plan(
    session: Session, submission: Submission
) -> tuple[dict[str, Any], list[str], list[str]]:
    """The values to write now (validated, PII-guarded), masked fields, fields to review.

    Raises a ``validation-error`` naming fields (never values) before anything is written.
    """
    categories = {
        name: category
        for name, category in session.execute(select(CatalogField.name, CatalogField.category))
    }
    errors: dict[str, list[str]] = {}
    values = dict(submission.values or {})
    for name in sorted(values):
        if categories.get(name) in BRAND_KEPT_CATEGORIES:
            errors[name] = [
                "Kept by the brand from its own records: name it under 'fields' (without a "
                "value) and the DPO will check and correct it."
            ]
    for name in submission.fields:
        if name not in categories:
            errors[name] = ["Not in the field catalog."]
    if errors:
        raise ApiError(
            "validation-error",
            f"Some fields cannot be corrected this way: {', '.join(sorted(errors))}.",
            errors=errors,
        )
    if not values:
        return {}, [], sorted(set(submission.fields))
    clean, masked = prepare_values(load_field_specs(session), values)
    return clean, sorted(masked), sorted(set(submission.fields))


def submit(
    session: Session,
    actor: Actor,
    subject_id: str,
    submission: Submission,
    *,
    due_days: int,
    now: dt.datetime | None = None,
) -> SubjectRequest:
    """File ``submission`` for the customer ``actor`` (only for themselves: 404 otherwise).

    Everything is checked before anything is written: a kind already open (409), a
    correction the catalog or the PII guard refuses (422), a restriction already in place
    or none to lift (409), an unconfirmed erasure (422). Kinds answered at once are
    completed in the same transaction. The caller commits.
    """
    if submission.kind not in KINDS:
        raise ApiError("validation-error", "Unknown kind.", errors={"kind": ["Unknown."]})
    subject = _own_subject(session, actor, subject_id)
    now = now or utcnow()
    if subject.erased_at is not None:
        raise ApiError("conflict", "Your data has been erased; there is nothing to ask for.")
    _check_no_open(session, subject_id, submission.kind)
    kind = submission.kind
    details: dict[str, Any] = {}
    if submission.reason:
        details["reason"] = submission.reason

    clean: dict[str, Any] = {}
    masked: list[str] = []
    if kind == "correction":
        clean, masked, review = _correction_plan(session, submission)
        if not clean and not review:
            raise ApiError(
                "validation-error",
                "A correction names values to set or fields to review.",
                errors={"values": ["Give values, fields, or both."]},
            )
        details |= {"applied": sorted(clean), "masked": masked, "review": review}
    elif kind == "erasure" and not submission.confirm:
        raise ApiError(
            "validation-error",
            "An erasure cannot be undone; confirm it.",
            errors={"confirm": ["Must be true for an erasure."]},
        )
    elif kind == "erasure":
        details["confirmed"] = True
    elif kind == "restriction" and subject.restricted_at is not None:
        raise ApiError("conflict", "Processing of your data is already restricted.")
    elif kind == "restriction_lift" and subject.restricted_at is None:
        raise ApiError("conflict", "Processing of your data is not restricted.")

    row = SubjectRequest(
        id=new_request_id(),
        subject_id=subject_id,
        brand_id=subject.brand_id,
        kind=kind,
        status="open",
        channel=submission.channel,
        requested_by_type=actor.type,
        requested_by_id=actor.id,
        created_at=now,
        due_at=now + dt.timedelta(days=due_days),
        details=details,
    )
    session.add(row)
    _audit(session, CREATE_ACTION, row, {"status": "open", **details})

    if kind == "correction" and clean:
        put_values(session, subject_id, clean, validated=True)
        audit.record(
            session,
            action=WRITE_ACTION,
            subject=subject_id,
            resource=f"request:{row.id}",
            details={"fields": sorted(clean), "masked": masked, "request": row.id},
        )
    if kind == "restriction":
        subject.restricted_at = now
        audit.record(
            session,
            action=RESTRICT_ACTION,
            subject=subject_id,
            resource=f"request:{row.id}",
            details={"request": row.id},
        )
    elif kind == "restriction_lift":
        subject.restricted_at = None
        audit.record(
            session,
            action=LIFT_ACTION,
            subject=subject_id,
            resource=f"request:{row.id}",
            details={"request": row.id},
        )

    if kind in AT_ONCE or (kind == "correction" and not details["review"]):
        result: dict[str, Any] = {"code": "done"}
        if kind == "correction":
            result["fields"] = sorted(clean)
        _close(session, row, "completed", result, now, action=COMPLETE_ACTION)
    session.flush()
    return row


# -- the DPO's work --------------------------------------------------------------------------


def visible_request(session: Session, actor: Actor, request_id: str) -> SubjectRequest:
    """The request, if the operator's brand sees it; 404 otherwise (the same answer)."""
    row = session.get(SubjectRequest, request_id) if request_id.startswith("dsr_") else None
    if row is None or not sees(actor.brand, row.brand_id):
        raise ApiError("not-found", NO_SUCH_REQUEST)
    return row


def for_subject(session: Session, actor: Actor, subject_id: str, request_id: str) -> SubjectRequest:
    """The customer's own request; 404 for another subject's or another's request."""
    _own_subject(session, actor, subject_id)
    row = session.get(SubjectRequest, request_id) if request_id.startswith("dsr_") else None
    if row is None or row.subject_id != subject_id:
        raise ApiError("not-found", NO_SUCH_REQUEST)
    return row


def _audit(
    session: Session, action: str, row: SubjectRequest, details: Mapping[str, Any]
) -> audit.Appended:
    return audit.record(
        session,
        action=action,
        subject=row.subject_id,
        resource=f"request:{row.id}",
        details={"request": row.id, "kind": row.kind, **details},
    )


def _close(
    session: Session,
    row: SubjectRequest,
    status: str,
    result: dict[str, Any],
    now: dt.datetime,
    *,
    action: str,
) -> None:
    row.status = status
    row.closed_at = now
    row.result = result
    _audit(session, action, row, {"status": status, **result})


def _compare_and_set(
    session: Session, row: SubjectRequest, frm: Sequence[str], values: Mapping[str, Any]
) -> None:
    """Move ``row`` on only if it is still in one of ``frm`` (two DPOs at once: one wins)."""
    session.flush()
    result = cast(
        CursorResult[Any],
        session.execute(
            update(SubjectRequest)
            .where(SubjectRequest.id == row.id, SubjectRequest.status.in_(frm))
            .values(**values)
            .execution_options(synchronize_session=False)
        ),
    )
    if result.rowcount != 1:
        session.refresh(row)
        raise ApiError("conflict", f"The request is {row.status}; it cannot be moved on.")
    session.refresh(row)


def _checked_note(note: str | None) -> str | None:
    """The DPO's note, refused (422, types and spans only) if it holds personal data."""
    if not note:
        return None
    from governance import pii

    found = pii.analyze(note)
    if found:
        spans = "; ".join(f"{f.type} at {f.start}-{f.end}" for f in found)
        raise ApiError(
            "validation-error",
            "The note holds personal information; write codes and references instead.",
            errors={"note": [f"Personal information found: {spans}."]},
        )
    return note


def transition(
    session: Session,
    actor: Actor,
    request_id: str,
    to: str,
    *,
    reason: str | None = None,
    note: str | None = None,
    fields: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> SubjectRequest:
    """Start, complete or reject a request as the DPO ``actor``; the caller commits.

    ``in_progress`` from open; ``completed`` (an optional note, and for a correction the
    fields corrected) or ``rejected`` (a reason code, an optional note) from open or in
    progress. An erasure is completed only by :func:`execute_erasure`. A closed request
    answers 409.
    """
    row = visible_request(session, actor, request_id)
    now = now or utcnow()
    note = _checked_note(note)
    if to == "in_progress":
        _compare_and_set(session, row, ("open",), {"status": to, "handled_by": actor.id})
        _audit(session, START_ACTION, row, {"status": to})
        return row
    if to == "completed" and row.kind == "erasure":
        raise ApiError(
            "conflict", "An erasure is completed by executing it (POST .../erase), not marked."
        )
    if to not in ("completed", "rejected"):
        raise ApiError("validation-error", "Unknown status.", errors={"status": list(STATUSES)})
    result: dict[str, Any] = {"code": "done" if to == "completed" else reason or "other"}
    if fields:
        result["fields"] = sorted(set(fields))
    if note:
        result["note"] = note
    _compare_and_set(
        session,
        row,
        ACTIVE_STATUSES,
        {"status": to, "handled_by": actor.id, "closed_at": now, "result": result},
    )
    _audit(
        session,
        COMPLETE_ACTION if to == "completed" else REJECT_ACTION,
        row,
        {"status": to, "code": result["code"], **({"fields": result["fields"]} if fields else {})},
    )
    return row


def evidence_hash(row: SubjectRequest) -> str:
    """SHA-256 of the request as filed: the evidence an erasure on the customer's behalf cites."""
    filed = {
        "id": row.id,
        "subject": row.subject_id,
        "kind": row.kind,
        "channel": row.channel,
        "requested_by": f"{row.requested_by_type}:{row.requested_by_id}",
        "created_at": iso(row.created_at),
        "details": row.details,
    }
    return hashlib.sha256(
        json.dumps(filed, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def execute_erasure(
    session: Session, actor: Actor, request_id: str, *, now: dt.datetime | None = None
) -> SubjectRequest:
    """Erase the subject of an open erasure request and complete it; commits.

    Needs an operator whose second factor is fresh (``step-up-required`` otherwise). The
    erasure (:func:`erase_subject`) commits on its own and is idempotent, so a failure
    after it leaves the request open and running this again finishes the job.
    """
    row = visible_request(session, actor, request_id)
    if row.kind != "erasure":
        raise ApiError("conflict", "Only an erasure request is executed.")
    if row.status not in ACTIVE_STATUSES:
        raise ApiError("conflict", f"The request is {row.status}; it cannot be moved on.")
    require_step_up(actor, "An erasure")
    evidence = evidence_hash(row)
    done = erase_subject(session, row.subject_id, actor=actor, evidence_sha256=evidence, now=now)
    now = now or utcnow()
    result = {
        "code": "erased",
        "evidence_sha256": evidence,
        "key_destroyed": done.key_destroyed,
        "values_deleted": done.values_deleted,
        "withdrawn": list(done.withdrawn),
        "erase_audit_seq": done.audit_seq,
    }
    _compare_and_set(
        session,
        row,
        ACTIVE_STATUSES,
        {"status": "completed", "handled_by": actor.id, "closed_at": now, "result": result},
    )
    _audit(session, COMPLETE_ACTION, row, {"status": "completed", **result})
    session.commit()
    return row


# -- lists -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A keyset page of requests and the cursor of the next (None: no more)."""

    rows: list[SubjectRequest]
    next: str | None


def _cursor(moment: dt.datetime, request_id: str) -> str:
    """An opaque, URL-safe cursor: the sort time and the id of the last row of a page."""
    return base64.urlsafe_b64encode(f"{iso(moment)}~{request_id}".encode()).decode().rstrip("=")


def _after(moment: dt.datetime, request_id: str) -> Any:
    """The cursor as typed SQL values (times bound exactly as the column stores them)."""
    return tuple_(literal(moment, UTCDateTime()), literal(request_id, String()))


def parse_cursor(text: str) -> tuple[dt.datetime, str]:
    """A cursor's (time, id); a ``validation-error`` if it is not one this API gave."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        moment, _, request_id = raw.partition("~")
        parsed: dt.datetime | None = dt.datetime.fromisoformat(moment)
    except ValueError:  # not base64, not UTF-8, not a time: all ValueErrors
        parsed, request_id = None, ""
    if parsed is None or parsed.tzinfo is None or not request_id.startswith(REQUEST_ID_PREFIX):
        raise ApiError(
            "validation-error", "Not a cursor.", errors={"after": ["Pass a 'next' as given."]}
        )
    return parsed, request_id


@dataclass(frozen=True)
class QueueFilter:
    """The DPO's queue: which requests (``status`` None: the open ones), oldest due first."""

    status: str | None = None
    kind: str | None = None
    overdue: bool = False
    subject: str | None = None


def queue(
    session: Session,
    brand: str | None,
    where: QueueFilter,
    *,
    after: str | None = None,
    limit: int = 50,
    now: dt.datetime | None = None,
) -> Page:
    """Requests of ``brand``'s customers (None: the group's), by due date then id, keyset-paged."""
    now = now or utcnow()
    r = SubjectRequest
    query = select(r)
    if where.status is not None:
        query = query.where(r.status == where.status)
    else:
        query = query.where(r.status.in_(ACTIVE_STATUSES))
    if where.overdue:
        query = query.where(r.status.in_(ACTIVE_STATUSES), r.due_at < now)
    if where.kind is not None:
        query = query.where(r.kind == where.kind)
    if where.subject is not None:
        query = query.where(r.subject_id == where.subject)
    if brand is not None:
        query = query.where(r.brand_id == brand)
    if after is not None:
        moment, last = parse_cursor(after)
        query = query.where(tuple_(r.due_at, r.id) > _after(moment, last))
    rows = list(session.scalars(query.order_by(r.due_at, r.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _cursor(rows[-1].due_at, rows[-1].id) if more else None)


def subject_requests(
    session: Session,
    actor: Actor,
    subject_id: str,
    *,
    before: str | None = None,
    limit: int = 50,
) -> Page:
    """The customer's own requests, newest first, keyset-paged (404 for anyone else's)."""
    _own_subject(session, actor, subject_id)
    r = SubjectRequest
    query = select(r).where(r.subject_id == subject_id)
    if before is not None:
        moment, last = parse_cursor(before)
        query = query.where(tuple_(r.created_at, r.id) < _after(moment, last))
    rows = list(session.scalars(query.order_by(r.created_at.desc(), r.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, _cursor(rows[-1].created_at, rows[-1].id) if more else None)
