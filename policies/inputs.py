"""Decision inputs: what the policies are told about an actor, a subject, a purpose, fields.

The platform assembles every input itself, from the request's actor, the catalog and the
consent ledger: a caller names a subject, a purpose and fields, never the facts the rules
judge (its own roles, the consent state), so no caller can talk its way into an allow.
The input holds ids, catalog attributes and consent facts, no profile value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import ledger
from consent.catalog.models import CatalogField, CatalogVersion, Purpose
from consent.tiers import Tier
from governance.auth.actors import Actor
from governance.errors import ApiError

#: The action of a policy decision's audit entry (counted for the daily volume).
DECIDE_ACTION = "policy.decide"
#: The action of a guarded read's audit entry (governance.profiles.guarded; counted too).
READ_ACTION = "profile.read"
#: What the daily volume counts: the actor's decisions and guarded reads.
COUNTED_ACTIONS = (DECIDE_ACTION, READ_ACTION)
#: A request about more subjects than this is a bulk export (step-up for operators).
BULK_SUBJECTS = 100
#: The daily volume is counted up to this many decisions (above every threshold).
VOLUME_CAP = 100_000
#: The time zone of "allowed hours" and "today".
LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
#: The purpose of a customer's access to (and copy of) their own data, PIPL arts. 45 and
#: 50. Built in, not in the catalog: it is the law's, not the brand's, and only the
#: customer themselves is ever granted it (policies: ``subject_access_purposes``).
SUBJECT_ACCESS_PURPOSE = "data_subject_access"


def subject_access_purpose() -> Purpose:
    """The built-in purpose of a customer's own access (never stored)."""
    return Purpose(
        id=SUBJECT_ACCESS_PURPOSE,
        legal_basis="legal_obligation",
        required_tier="basic",
        separate_consent=False,
        optional=False,
    )


@dataclass(frozen=True)
class Question:
    """Whether this actor may use these fields of this subject for this purpose."""

    subject: str
    purpose: str
    fields: tuple[str, ...]


def actor_input(actor: Actor, now: dt.datetime) -> dict[str, Any]:
    """The actor as the policies see it."""
    mfa_age = None
    if actor.mfa_at is not None:
        mfa_age = max(0, int((now - actor.mfa_at).total_seconds() // 60))
    return {
        "type": actor.type,
        "id": actor.id,
        "roles": sorted(actor.roles),
        "purposes": sorted(actor.purposes),
        "agreement": dict(actor.agreement) if actor.agreement is not None else None,
        "mfa_age_minutes": mfa_age,
    }


def field_input(spec: CatalogField) -> dict[str, Any]:
    """A catalog field as the policies see it (attributes only, never a value)."""
    return {
        "name": spec.name,
        "category": spec.category,
        "tier": spec.tier,
        "classification": spec.classification,
        "pipl_sensitive": spec.pipl_sensitive,
        "free_text": spec.free_text,
    }


def daily_volume(session: Session, actor: Actor, now: dt.datetime) -> int:
    """How many decisions and guarded reads this actor had today (local day).

    Read from the actor's daily counter (:mod:`policies.volume`), which the batch
    decisions and the guarded read increment as they audit their work.
    """
    from policies import volume

    return volume.today(session, actor.type, actor.id, now)[0]


@dataclass
class Assembled:
    """The inputs for the questions that reached the policies, and those that did not."""

    inputs: dict[int, dict[str, Any]]  # question index -> decision input
    unknown_subjects: set[int]  # question indexes whose subject the actor cannot see


_CATALOG = "policies.catalog"


def catalog(session: Session) -> tuple[dict[str, Purpose], dict[str, CatalogField]]:
    """The catalog's purposes (the built-in access purpose too) and fields, by id.

    Kept per app until another catalog version is loaded (one small query tells): every
    decision needs them, and loading them was a millisecond of each guarded read. The
    objects are detached from any session; treat them as read-only.
    """
    stamp = tuple(
        session.execute(
            select(func.count(CatalogVersion.version), func.max(CatalogVersion.loaded_at))
        ).one()
    )
    cache: dict[str, Any] | None = (
        current_app.extensions.setdefault(_CATALOG, {}) if has_app_context() else None
    )
    if cache is not None and cache.get("stamp") == stamp:
        return dict(cache["purposes"]), dict(cache["fields"])
    # Loaded by a session of their own on the same connection (and transaction), so the
    # caller's session and its pending changes are left alone.
    with Session(bind=session.connection(), expire_on_commit=False) as reader:
        purposes = {p.id: p for p in reader.scalars(select(Purpose))}
        fields = {f.name: f for f in reader.scalars(select(CatalogField))}
        reader.expunge_all()
    purposes[SUBJECT_ACCESS_PURPOSE] = subject_access_purpose()
    if cache is not None:
        cache.update(stamp=stamp, purposes=purposes, fields=fields)
    return dict(purposes), dict(fields)


def validate(
    session: Session, questions: Sequence[Question]
) -> tuple[dict[str, Purpose], dict[str, CatalogField]]:
    """The purposes and fields named, or a 422 naming what is not in the catalog."""
    purposes, fields = catalog(session)
    errors: dict[str, list[str]] = {}
    for n, q in enumerate(questions):
        if q.purpose not in purposes:
            errors.setdefault(f"questions.{n}.purpose", []).append("Not in the catalog.")
        # Positions, not names: an error message never repeats what the caller sent.
        unknown = [str(i) for i, f in enumerate(q.fields) if f not in fields]
        if unknown:
            errors.setdefault(f"questions.{n}.fields", []).append(
                f"Not in the catalog: the field(s) at position {', '.join(unknown)}."
            )
        if len(set(q.fields)) != len(q.fields) or not q.fields:
            errors.setdefault(f"questions.{n}.fields", []).append("Name each field once.")
    if errors:
        raise ApiError("validation-error", "Some questions are not well formed.", errors=errors)
    return purposes, fields


def assemble(
    session: Session, actor: Actor, questions: Sequence[Question], *, now: dt.datetime
) -> Assembled:
    """Build the decision input of every question (one consent check per purpose)."""
    purposes, fields = validate(session, questions)
    local = now.astimezone(LOCAL_ZONE)
    who = actor_input(actor, now)
    bulk = len({q.subject for q in questions}) > BULK_SUBJECTS
    volume = daily_volume(session, actor, now)

    by_purpose: dict[str, list[str]] = {}
    for q in questions:
        by_purpose.setdefault(q.purpose, []).append(q.subject)
    # One consent check per purpose; it also reads each subject's birth year, guardian
    # consent and restriction, which the inputs need.
    answers: dict[tuple[str, str], ledger.Answer] = {}
    facts: dict[tuple[str, str], ledger.SubjectFacts] = {}
    for purpose, subjects in by_purpose.items():
        if purpose == SUBJECT_ACCESS_PURPOSE:  # no consent to check: the law grants it
            for subject in subjects:
                answer, known = _own_access_answer(session, subject, actor.brand)
                answers[(subject, purpose)] = answer
                if known is not None:
                    facts[(subject, purpose)] = known
            continue
        found: dict[str, ledger.SubjectFacts] = {}
        for answer in ledger.check_many(
            session, subjects, purpose, Tier.BASIC, now=now, brand=actor.brand, facts=found
        ):
            answers[(answer.subject, purpose)] = answer
        for subject, known in found.items():
            facts[(subject, purpose)] = known
    nothing = ledger.SubjectFacts(None, False, False)

    bands = volume_thresholds(actor.type)
    out = Assembled({}, set())
    for n, q in enumerate(questions):
        answer = answers[(q.subject, q.purpose)]
        if answer.reason in ("unknown_subject", "subject_erased"):
            out.unknown_subjects.add(n)
            continue
        out.inputs[n] = decision_input(
            who,
            purposes[q.purpose],
            answer,
            by_guardian=facts.get((q.subject, q.purpose), nothing).by_guardian,
            minor=ledger.is_minor(
                facts.get((q.subject, q.purpose), nothing).birth_year, local.date()
            ),
            restricted=facts.get((q.subject, q.purpose), nothing).restricted,
            own=actor.type == "subject" and actor.id == q.subject,
            fields=[field_input(fields[name]) for name in q.fields],
            context=request_context(
                local, policy_volume(min(volume + n + 1, VOLUME_CAP), bands), bulk
            ),
        )
    return out


def _own_access_answer(
    session: Session, subject_id: str, brand: str | None
) -> tuple[ledger.Answer, ledger.SubjectFacts | None]:
    """The answer for the built-in access purpose (the subject exists, is not erased)."""
    subject = ledger.visible_subject(session, subject_id, brand)
    if subject is None:
        return ledger.Answer(subject_id, False, "unknown_subject"), None
    facts = ledger.SubjectFacts(subject.birth_year, False, subject.restricted_at is not None)
    if subject.erased_at is not None:
        return ledger.Answer(subject_id, False, "subject_erased"), facts
    return ledger.Answer(subject_id, True, "legal_basis"), facts


def volume_thresholds(actor_type: str) -> tuple[float, ...] | None:
    """Every volume threshold the loaded policy data holds for ``actor_type`` (sorted).

    None when the engine's data is not at hand: the volume is then given as it is.
    """
    import policies

    source = getattr(policies.service().engine, "source", None)
    data = getattr(source, "data", None)
    try:
        access = data["governance"]["access"]  # type: ignore[index]
        found = {
            float(limit)
            for table in ("volume", "bulk_volume")
            for limit in (access.get(table, {}).get(actor_type) or {}).values()
            if isinstance(limit, int | float) and not isinstance(limit, bool)
        }
    except (TypeError, KeyError, AttributeError):
        return None
    return tuple(sorted(found))


def policy_volume(volume: int, thresholds: Sequence[float] | None) -> int:
    """The volume as the policies are told it: the smallest threshold at or above it.

    Every rule compares the volume with a threshold (above, or not), and ``volume > t``
    holds exactly when this banded value is above ``t``: the decisions are the same, but
    the inputs of the day's reads repeat, so the engine's result cache answers them. Above
    every threshold, one more than the largest.
    """
    if thresholds is None:
        return volume
    for limit in thresholds:
        if volume <= limit:
            return int(limit)
    return int(thresholds[-1]) + 1 if thresholds else volume


def request_context(local: dt.datetime, volume: int, bulk: bool) -> dict[str, Any]:
    """The ``context`` of an input: local hour and day, the volume, whether bulk."""
    return {
        "hour": local.hour,
        "volume": volume,
        "bulk": bulk,
        "today": local.date().isoformat(),
    }


def decision_input(
    who: Mapping[str, Any],
    purpose: Purpose,
    answer: ledger.Answer,
    *,
    by_guardian: bool,
    minor: bool,
    fields: list[dict[str, Any]],
    context: Mapping[str, Any],
    restricted: bool = False,
    own: bool = False,
) -> dict[str, Any]:
    """One decision's input from its parts (the same for a question and a cohort export)."""
    return {
        "actor": who,
        "purpose": {
            "id": purpose.id,
            "legal_basis": purpose.legal_basis,
            "separate_consent": purpose.separate_consent,
        },
        "consent": {
            "valid": answer.valid and answer.reason != "legal_basis",
            "reason": answer.reason,
            "tier": answer.tier,
            "by_guardian": by_guardian,
        },
        "subject": {"minor": minor, "restricted": restricted, "self": own},
        "personalised_recommendation": (
            answer.valid if purpose.id == "personalised_recommendation" else True
        ),
        "fields": fields,
        "context": dict(context),
    }


def audit_details(question: Question, decision: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit entry of a decision says: field names and reasons, never a value."""
    fields = decision["fields"]
    return {
        "allowed": sorted(name for name, d in fields.items() if d["allow"]),
        "denied": sorted(name for name, d in fields.items() if not d["allow"]),
        "obligations": sorted(
            {o.get("type", "?") for d in fields.values() for o in d["obligations"]}
        ),
        "flags": list(decision.get("flags", [])),
    }
