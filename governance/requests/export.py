"""A customer's copy of their data (PIPL arts. 45 and 50): one machine-readable JSON document.

It holds every profile field the platform stores for them, read through the guarded read
(:func:`governance.profiles.guarded.read_profile`) as the customer themselves with the
built-in purpose ``data_subject_access``: the policy reveals every field unmasked (free
text redacted), and the read is an audit entry like any other. There is no other way to
the values. Then, with ids and codes only: their consent states, history and signed
receipts, the cohort exports that included them ("who used my data"), their requests,
and every audit entry about them, each with an RFC 9162 inclusion proof against a signed
checkpoint. When no checkpoint covers their newest entry (the read just made, at least),
one is signed first.

Audit entries come a page at a time, oldest first: the document holds the first page and
a cursor; :func:`audit_page` serves the next ones against the same checkpoint, so every
proof in one copy checks against one signed root.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

import audit
from audit import merkle
from audit.checkpoint import b64
from audit.log import CheckpointInfo, create_checkpoint, entry_json, fetch_nodes, latest_checkpoint
from audit.models import ENTRIES
from audit.query import MAX_SEQ, checkpoint_of_size
from consent import ledger
from consent.catalog.models import CatalogField
from consent.models import ConsentEvent
from governance.auth.actors import Actor
from governance.db import utcnow
from governance.errors import ApiError
from governance.profiles.guarded import read_profile
from governance.profiles.models import ExportSubject, ProfileExport, ProfileValue, Subject
from governance.requests.models import SubjectRequest
from governance.requests.services import iso, request_json
from policies.inputs import SUBJECT_ACCESS_PURPOSE

__all__ = ["EXPORT_FORMAT", "EXPORT_KINDS", "audit_page", "build_export", "covering_checkpoint"]

EXPORT_FORMAT = "governance-subject-export/1"
#: The kinds of request whose answer is this document.
EXPORT_KINDS = ("access", "portability")
#: Audit entries per page (default and most).
AUDIT_PAGE = 500
MAX_AUDIT_PAGE = 1000
#: Entries whose proofs are built from one query of stored nodes.
_PROOF_BATCH = 64
#: Consent events read per query.
_HISTORY_BATCH = 500
PUBLIC_KEY_PATH = "/.well-known/governance-audit-key.json"
RECEIPT_KEYS_PATH = "/.well-known/governance-consent-jwks.json"

_ENTRY_COLUMNS = tuple(c for c in ENTRIES.columns if c.name not in {"nodes", "chain_hash"})


def stored_fields(session: Session, subject_id: str) -> list[str]:
    """Names of the fields the subject has a value for (nothing decrypted)."""
    return list(
        session.scalars(
            select(ProfileValue.field)
            .where(ProfileValue.subject_id == subject_id)
            .order_by(ProfileValue.field)
        )
    )


def covering_checkpoint(session: Session, subject_id: str) -> CheckpointInfo:
    """The newest signed checkpoint if it covers the subject's newest entry; else a new one.

    Commits when it signs one.
    """
    newest = session.scalar(
        select(func.max(ENTRIES.c.seq)).where(ENTRIES.c.subject_id == subject_id)
    )
    latest = latest_checkpoint(session)
    if latest is not None and (newest is None or latest.tree_size > newest):
        return latest
    signed, _ = create_checkpoint(session, audit.get_signer())
    session.commit()
    return signed


def _proofs(session: Session, seqs: Sequence[int], size: int) -> dict[int, list[bytes]]:
    """Inclusion proofs of ``seqs`` in the tree of ``size``, one node query per batch."""
    out: dict[int, list[bytes]] = {}
    for start in range(0, len(seqs), _PROOF_BATCH):
        chunk = seqs[start : start + _PROOF_BATCH]
        ranges = {seq: merkle.inclusion_ranges(seq, size) for seq in chunk}
        needed: set[merkle.Node] = set()
        for one in ranges.values():
            needed |= merkle.needed_nodes(one)
        nodes = fetch_nodes(session.connection(), needed)
        for seq, one in ranges.items():
            out[seq] = merkle.hash_ranges(one, nodes)
    return out


def audit_page(
    session: Session,
    subject_id: str,
    signed: CheckpointInfo,
    *,
    after: int | None = None,
    limit: int = AUDIT_PAGE,
) -> dict[str, Any]:
    """Entries about the subject in ``signed``'s tree after ``after``, oldest first, proved.

    Walks the (subject, seq) index; ``next`` is the cursor of the following page.
    """
    t = ENTRIES
    query = select(*_ENTRY_COLUMNS).where(t.c.subject_id == subject_id, t.c.seq < signed.tree_size)
    if after is not None:
        query = query.where(t.c.seq > after)
    rows = [dict(r) for r in session.execute(query.order_by(t.c.seq).limit(limit + 1)).mappings()]
    more = len(rows) > limit
    rows = rows[:limit]
    proofs = _proofs(session, [r["seq"] for r in rows], signed.tree_size)
    return {
        "tree_size": signed.tree_size,
        "root_hash": b64(signed.root_hash),
        "entries": [{**entry_json(r), "proof": [b64(h) for h in proofs[r["seq"]]]} for r in rows],
        "next": str(rows[-1]["seq"]) if more else None,
    }


def checkpoint_for_page(session: Session, tree_size: int) -> CheckpointInfo:
    """The signed checkpoint of ``tree_size`` (a later page of one copy), or 422."""
    signed = checkpoint_of_size(session, tree_size) if 0 < tree_size <= MAX_SEQ else None
    if signed is None:
        raise ApiError(
            "validation-error",
            "No signed checkpoint has that tree size.",
            errors={"tree_size": ["Pass the tree_size of the copy's checkpoint."]},
        )
    return signed


def _profile(
    session: Session, actor: Actor, subject: Subject, now: dt.datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The profile part (through the guarded read) and the plain field -> value map."""
    if subject.erased_at is not None:
        return {"erased_at": iso(subject.erased_at), "fields": {}}, {}
    names = stored_fields(session, subject.id)
    if not names:
        return {"purpose": SUBJECT_ACCESS_PURPOSE, "audit_seq": None, "fields": {}}, {}
    read = read_profile(session, actor, subject.id, SUBJECT_ACCESS_PURPOSE, names, now=now)
    catalog = {
        f.name: f for f in session.scalars(select(CatalogField).where(CatalogField.name.in_(names)))
    }
    fields: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name, one in read.fields.items():
        spec = catalog.get(name)
        fields[name] = {
            "label": {"zh": spec.label_zh, "en": spec.label_en} if spec else None,
            "category": spec.category if spec else None,
            "retention_days": spec.retention_days if spec else None,
            **one.to_json(),
        }
        if one.allow:
            values[name] = one.value
    profile = {
        "purpose": read.purpose,
        "audit_seq": read.audit_seq,
        "bundle_hash": read.bundle_hash,
        "fields": fields,
    }
    return profile, values


def _event_json(event: ConsentEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "purpose": event.purpose,
        "kind": event.kind,
        "tier": event.tier,
        "notice_version": event.notice_version,
        "notice_date": None if event.notice_date is None else event.notice_date.isoformat(),
        "channel": event.channel,
        "acted_by": event.acted_by,
        "actor_id": event.actor_id,
        "evidence_sha256": event.evidence_sha256,
        "guardian_evidence_sha256": event.guardian_evidence_sha256,
        "behalf_evidence_sha256": event.behalf_evidence_sha256,
        "valid_until": iso(event.valid_until),
        "occurred_at": iso(event.occurred_at),
        "receipt_id": event.receipt_id,
        "audit_seq": event.audit_seq,
    }


def _consent(session: Session, subject_id: str) -> dict[str, Any]:
    """States, the whole history (oldest first) and the signed receipts."""
    states = [
        {
            "purpose": s.purpose,
            "status": s.status,
            "tier": s.tier,
            "notice_version": s.notice_version,
            "by_guardian": s.by_guardian,
            "valid_until": iso(s.valid_until),
            "changed_at": iso(s.changed_at),
        }
        for s in ledger.states(session, subject_id)
    ]
    events: list[ConsentEvent] = []
    before: int | None = None
    while True:
        page = ledger.history(session, subject_id, before=before, limit=_HISTORY_BATCH)
        events.extend(page)
        if len(page) < _HISTORY_BATCH:
            break
        before = page[-1].id
    events.reverse()
    return {
        "states": states,
        "history": [_event_json(e) for e in events],
        "receipts": [
            {
                "receipt_id": e.receipt_id,
                "event": e.id,
                "purpose": e.purpose,
                "kind": e.kind,
                "jws": e.receipt_jws,
            }
            for e in events
            if e.receipt_id
        ],
        "receipt_keys": RECEIPT_KEYS_PATH,
    }


def _exports(session: Session, subject_id: str) -> list[dict[str, Any]]:
    """The cohort exports that revealed the subject: who, for what, which fields, when."""
    rows = session.scalars(
        select(ProfileExport)
        .join(ExportSubject, ExportSubject.export_id == ProfileExport.id)
        .where(ExportSubject.subject_id == subject_id)
        .order_by(ProfileExport.started_at, ProfileExport.id)
    )
    return [
        {
            "export": e.id,
            "actor": {"type": e.actor_type, "id": e.actor_id},
            "brand": e.brand_id,
            "purpose": e.purpose,
            "fields": list(e.fields),
            "status": e.status,
            "started_at": iso(e.started_at),
            "finished_at": iso(e.finished_at),
        }
        for e in rows
    ]


def build_export(
    session: Session,
    actor: Actor,
    request: SubjectRequest,
    *,
    controller: str,
    limit: int = AUDIT_PAGE,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The copy answering ``request`` (access or portability), for its customer ``actor``.

    Commits (the guarded read's audit entry, and a checkpoint when one is signed).
    """
    if request.kind not in EXPORT_KINDS:
        raise ApiError("not-found", "This request has no copy to download.")
    if request.status != "completed":
        raise ApiError("conflict", f"The request is {request.status}; no copy yet.")
    now = now or utcnow()
    subject = session.get(Subject, request.subject_id)
    if subject is None:  # pragma: no cover - the row references it
        raise ApiError("not-found", ledger.NO_SUCH_SUBJECT)
    profile, values = _profile(session, actor, subject, now)
    consent = _consent(session, subject.id)
    exports = _exports(session, subject.id)
    requests = [
        request_json(r, now)
        for r in session.scalars(
            select(SubjectRequest)
            .where(SubjectRequest.subject_id == subject.id)
            .order_by(SubjectRequest.created_at, SubjectRequest.id)
        )
    ]
    signed = covering_checkpoint(session, subject.id)
    entries = audit_page(session, subject.id, signed, limit=limit)
    return {
        "format": EXPORT_FORMAT,
        "request": request.id,
        "kind": request.kind,
        "subject": subject.id,
        "controller": controller,
        "generated_at": iso(now),
        "subject_record": {
            "brand": subject.brand_id,
            "created_at": iso(subject.created_at),
            "restricted_at": iso(subject.restricted_at),
            "erased_at": iso(subject.erased_at),
        },
        "profile": profile,
        "values": values,
        "consent": consent,
        "exports": exports,
        "requests": requests,
        "audit": {
            "checkpoint": signed.to_json(),
            "public_key": PUBLIC_KEY_PATH,
            **entries,
        },
    }
