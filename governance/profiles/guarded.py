"""The guarded read: the one way profile values leave the platform.

Every path that reveals profile data (the read API, cohort exports, data-subject exports,
federated cohorts, the UI) calls :func:`read_profile` or :func:`export_cohort`, which do,
in this order::

    actor (authenticated) -> consent state -> policy decision -> decrypt the allowed
    fields only -> apply obligations (mask, redact) -> audit entry, committed -> values

Nothing is revealed unless the policy allows this actor, purpose and field for this
subject's consent state. A field whose decision obliges a fresh second factor is
withheld (``step_up_required``) until the operator passes one. If the policy engine
fails, the read fails (503) with no value; if the audit append or its commit fails, the
exception propagates and no value is returned: the entry is durable before any value
leaves. This is why this module, unlike other services, commits the caller's session:
committing the audit entry is part of the read, not the request's bookkeeping.

Decryption itself is refused outside these functions (:func:`revealing`): a second door
around the guarded read cannot decrypt anything.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import audit
import policies
from consent.ledger import NO_SUCH_SUBJECT
from governance.auth.actors import Actor
from governance.db import utcnow
from governance.errors import ApiError
from governance.profiles import obligations as duties
from governance.profiles.crypto import ProfileCrypto, profile_crypto
from governance.profiles.models import ProfileValue, SubjectKey
from policies.engine import Decision
from policies.inputs import READ_ACTION, Question, assemble

__all__ = [
    "READ_ACTION",
    "FieldRead",
    "ProfileRead",
    "decryption_allowed",
    "read_profile",
    "revealing",
]

#: The reason a field is withheld until the operator passes a fresh second factor.
STEP_UP_REQUIRED = "step_up_required"
#: The reason a field is withheld because the policy obliges something unknown here.
UNKNOWN_OBLIGATION = "unknown_obligation"

_REVEALING: contextvars.ContextVar[bool] = contextvars.ContextVar("revealing", default=False)


@contextlib.contextmanager
def revealing() -> Iterator[None]:
    """The only context in which profile values may be decrypted (the guarded read's)."""
    token = _REVEALING.set(True)
    try:
        yield
    finally:
        _REVEALING.reset(token)


def decryption_allowed() -> bool:
    """True inside :func:`revealing` (checked by every decryption)."""
    return _REVEALING.get()


@dataclass(frozen=True, slots=True)
class FieldRead:
    """One field of a guarded read: revealed or not, why, and what was done to it."""

    allow: bool
    reasons: tuple[str, ...] = ()
    obligations: tuple[str, ...] = ()  # applied: mask, redact
    stored: bool = False  # the subject has a value (told only for revealed fields)
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        """JSON form: a value (possibly null) only for a revealed field."""
        out: dict[str, Any] = {
            "allow": self.allow,
            "reasons": list(self.reasons),
            "obligations": list(self.obligations),
        }
        if self.allow:
            out["stored"] = self.stored
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class ProfileRead:
    """The result of a guarded read of one subject, and where its audit entry is."""

    subject: str
    purpose: str
    fields: Mapping[str, FieldRead]
    bundle_hash: str
    flags: tuple[str, ...]
    audit_seq: int

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "subject": self.subject,
            "purpose": self.purpose,
            "fields": {name: f.to_json() for name, f in self.fields.items()},
            "flags": list(self.flags),
            "bundle_hash": self.bundle_hash,
            "audit_seq": self.audit_seq,
        }


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a decision lets this read reveal, field by field, before any decryption."""

    reveal: dict[str, list[Mapping[str, Any]]]  # field -> its obligations
    withheld: dict[str, tuple[str, ...]]  # field -> reasons


def _plan(decision: Decision) -> _Plan:
    reveal: dict[str, list[Mapping[str, Any]]] = {}
    withheld: dict[str, tuple[str, ...]] = {}
    for name, one in decision.fields.items():
        kinds = {o.get("type") for o in one.obligations}
        if not one.allow:
            withheld[name] = one.reasons
        elif "step_up" in kinds:
            withheld[name] = (STEP_UP_REQUIRED,)
        elif not kinds <= {"mask", "redact"}:
            withheld[name] = (UNKNOWN_OBLIGATION,)
        else:
            reveal[name] = list(one.obligations)
    return _Plan(reveal, withheld)


def _open(
    session: Session, crypto: ProfileCrypto, subject_id: str, names: Sequence[str]
) -> dict[str, Any]:
    """Decrypt the stored values of ``names`` (only these) of one subject."""
    if not names:
        return {}
    key = session.get(SubjectKey, subject_id)
    if key is None:  # erased: the data key is gone, nothing can be read
        return {}
    rows = session.execute(
        select(ProfileValue.field, ProfileValue.ciphertext).where(
            ProfileValue.subject_id == subject_id, ProfileValue.field.in_(sorted(names))
        )
    ).all()
    if not rows:
        return {}
    cipher = crypto.open_subject_key(subject_id, key.key_version, key.wrapped_key)
    with revealing():
        return {name: cipher.decrypt(name, bytes(blob)) for name, blob in rows}


def _actor_pair(actor: Actor) -> tuple[str, str]:
    if actor.type == "anonymous":
        raise ApiError("unauthenticated", "A guarded read needs an authenticated actor.")
    return actor.type, actor.id


def read_profile(
    session: Session,
    actor: Actor,
    subject_id: str,
    purpose: str,
    fields: Sequence[str],
    *,
    now: dt.datetime | None = None,
    crypto: ProfileCrypto | None = None,
) -> ProfileRead:
    """Read ``fields`` of one subject for ``purpose`` as ``actor``: the guarded read.

    Raises 422 for a purpose or field not in the catalog, 404 for a subject the actor
    cannot see (none, erased, another brand's: the same answer, and audited as a denied
    read), 503 when the policy engine fails. Commits ``session`` (the audit entry) before
    it returns.
    """
    who = _actor_pair(actor)
    now = now or utcnow()
    question = Question(subject_id, purpose, tuple(fields))
    assembled = assemble(session, actor, [question], now=now)
    service = policies.service()
    if 0 in assembled.unknown_subjects:
        audit.record(
            session,
            action=READ_ACTION,
            decision="deny",
            subject=subject_id,
            purpose=purpose,
            reasons=["unknown_subject"],
            policy_hash=service.bundle_hash,
            details={"revealed": [], "denied": sorted(fields)},
            actor=who,
        )
        session.commit()
        raise ApiError("not-found", NO_SUCH_SUBJECT)

    decision = service.decide(assembled.inputs[0])
    if decision.error:
        audit.record(
            session,
            action=READ_ACTION,
            decision="error",
            subject=subject_id,
            purpose=purpose,
            reasons=["engine_error"],
            policy_hash=decision.bundle_hash,
            details={"revealed": [], "denied": sorted(fields)},
            actor=who,
        )
        session.commit()
        raise ApiError(
            "service-unavailable", "The policy engine could not decide; nothing is revealed."
        )

    plan = _plan(decision)
    clear = _open(session, crypto or profile_crypto(), subject_id, list(plan.reveal))
    out: dict[str, FieldRead] = {}
    masked: list[str] = []
    redacted: list[str] = []
    for name in question.fields:
        if name in plan.withheld:
            out[name] = FieldRead(False, plan.withheld[name])
            continue
        value, applied = duties.apply(clear.get(name), plan.reveal[name])
        if "unknown" in applied:  # defensive: _plan keeps these out already
            out[name] = FieldRead(False, (UNKNOWN_OBLIGATION,))
            continue
        if "mask" in applied:
            masked.append(name)
        if "redact" in applied:
            redacted.append(name)
        out[name] = FieldRead(True, (), tuple(applied), name in clear, value)

    revealed = sorted(n for n, f in out.items() if f.allow)
    appended = audit.record(
        session,
        action=READ_ACTION,
        decision="allow" if revealed else "deny",
        subject=subject_id,
        purpose=purpose,
        reasons=sorted({r for f in out.values() for r in f.reasons}),
        policy_hash=decision.bundle_hash,
        details={
            "revealed": revealed,
            "denied": sorted(n for n, f in out.items() if not f.allow),
            "masked": sorted(masked),
            "redacted": sorted(redacted),
            "flags": list(decision.flags),
        },
        actor=who,
    )
    session.commit()
    return ProfileRead(
        subject_id, purpose, out, decision.bundle_hash, decision.flags, appended.seq
    )
