"""Erasure by crypto-shredding (PIPL art. 47).

Erasing a subject destroys its data key in the key vault (:mod:`governance.profiles.vault`,
committed at once), so every copy of its values, in the database, in its replicas and in
any backup taken before, is ciphertext under a key that no longer exists. Then, in the
caller's session: every consent still granted is withdrawn (so subscribers are told, art.
15), the ciphertexts and blind indexes are deleted (a lookup by phone finds nothing), and
the subject becomes a tombstone (``erased_at``; its id stays, so the audit trail, which
never held a value, keeps its proofs). The erasure is audited and committed.

It is idempotent: run again after a failure part-way, it finishes what is left.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, delete
from sqlalchemy.orm import Session

import audit
from consent import ledger
from governance.auth.actors import Actor
from governance.db import utcnow
from governance.errors import ApiError
from governance.profiles.models import BlindIndex, ProfileValue
from governance.profiles.vault import get_vault_engine, shred

__all__ = ["ERASE_ACTION", "Erased", "erase_subject"]

ERASE_ACTION = "profile.erase"
#: Who acts, for the consent ledger, by actor type.
_ACTED_BY = {"subject": "subject", "operator": "operator", "service": "service"}


@dataclass(frozen=True)
class Erased:
    """What an erasure did."""

    subject: str
    key_destroyed: bool
    values_deleted: int
    indexes_deleted: int
    withdrawn: tuple[str, ...]
    audit_seq: int


def erase_subject(
    session: Session,
    subject_id: str,
    *,
    actor: Actor,
    evidence_sha256: str | None = None,
    channel: str = "api",
    now: dt.datetime | None = None,
) -> Erased:
    """Erase ``subject_id`` as ``actor``; commits. 404 for a subject the actor cannot see.

    ``evidence_sha256``: the hash of the erasure request (required when an operator or a
    service acts on the customer's behalf: the consent withdrawals carry it).
    """
    if actor.type not in _ACTED_BY:
        raise ApiError("unauthenticated", "An erasure needs an authenticated actor.")
    if actor.type == "subject" and actor.id != subject_id:
        raise ApiError("not-found", ledger.NO_SUCH_SUBJECT)
    subject = ledger.require_subject(session, subject_id, actor.brand)
    now = now or utcnow()

    # The key first: from here on, nothing of the subject can be read, whatever follows.
    destroyed = shred(get_vault_engine(), subject_id)

    withdrawn: tuple[str, ...] = ()
    if subject.erased_at is None:
        granted = sorted(
            s.purpose for s in ledger.states(session, subject_id) if s.status == "granted"
        )
        if granted:
            ledger.record(
                session,
                ledger.Change(
                    subject=subject_id,
                    purposes=tuple(granted),
                    kind="withdraw",
                    channel=channel,
                    acted_by=_ACTED_BY[actor.type],
                    actor_id=actor.id,
                    behalf_evidence_sha256=evidence_sha256 if actor.type != "subject" else None,
                    brand=actor.brand,
                ),
                now=now,
            )
            withdrawn = tuple(granted)
    values = _deleted(session, delete(ProfileValue).where(ProfileValue.subject_id == subject_id))
    indexes = _deleted(session, delete(BlindIndex).where(BlindIndex.subject_id == subject_id))
    subject.erased_at = subject.erased_at or now
    subject.birth_year = None
    subject.restricted_at = None
    appended = audit.record(
        session,
        action=ERASE_ACTION,
        subject=subject_id,
        details={
            "key_destroyed": destroyed,
            "values_deleted": values,
            "indexes_deleted": indexes,
            "withdrawn": list(withdrawn),
        },
        actor=(actor.type, actor.id),
    )
    session.commit()
    return Erased(subject_id, destroyed, values, indexes, withdrawn, appended.seq)


def _deleted(session: Session, statement: Delete) -> int:
    """Run a DELETE; how many rows it removed."""
    result = cast(CursorResult[Any], session.execute(statement))
    return int(result.rowcount)
