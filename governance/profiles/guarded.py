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

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

import audit
import policies
from consent import ledger
from consent.ledger import NO_SUCH_SUBJECT
from governance.auth.actors import Actor
from governance.db import utcnow
from governance.errors import ApiError
from governance.profiles import obligations as duties
from governance.profiles.crypto import (
    ProfileCrypto,
    SubjectCipher,
    profile_crypto,
    revealing,
)
from governance.profiles.models import ExportSubject, ProfileExport, ProfileValue, SubjectKey
from policies import volume
from policies.engine import Decision
from policies.inputs import (
    LOCAL_ZONE,
    READ_ACTION,
    Question,
    actor_input,
    assemble,
    daily_volume,
    decision_input,
    field_input,
    policy_volume,
    request_context,
    validate,
    volume_thresholds,
)

__all__ = [
    "EXPORT_ACTION",
    "READ_ACTION",
    "CohortExport",
    "FieldRead",
    "ProfileRead",
    "export_cohort",
    "read_profile",
    "revealing",
]

#: Every HTTP endpoint and CLI command that returns profile values; each calls
#: read_profile or export_cohort (tests/profiles/test_no_second_door.py exercises each one
#: and checks that nothing else can reveal a value).
REVEALING_ENDPOINTS = frozenset(
    {"profiles.ProfileRead", "profiles.Exports", "subject_requests.OwnExport"}
)
REVEALING_COMMANDS = frozenset({"profiles export"})

#: The audit actions of a cohort export's start and end.
EXPORT_ACTION = "profile.export"
EXPORT_DONE_ACTION = "profile.export.done"

#: The reason a field is withheld until the operator passes a fresh second factor.
STEP_UP_REQUIRED = "step_up_required"
#: The reason a field is withheld because the policy obliges something unknown here.
UNKNOWN_OBLIGATION = "unknown_obligation"


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
    volume.add(session, who[0], who[1], now, requests=1)  # every attempt counts
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
    return ProfileRead(subject_id, purpose, out, decision.bundle_hash, decision.flags, appended.seq)


# -- cohort exports ----------------------------------------------------------------------------


@dataclass
class CohortExport:
    """A started export: its id, how many subjects it considers, and its JSON Lines."""

    id: str
    candidates: int
    lines: Iterator[str] = field(repr=False)


def exported_today(session: Session, actor: Actor, now: dt.datetime) -> int:
    """How many subjects this actor's exports revealed today (local day)."""
    return volume.today(session, actor.type, actor.id, now)[1]


def export_cohort(
    session: Session,
    actor: Actor,
    purpose: str,
    fields: Sequence[str],
    *,
    where: ledger.CohortFilter | None = None,
    limit: int | None = None,
    now: dt.datetime | None = None,
    crypto: ProfileCrypto | None = None,
    page_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> CohortExport:
    """Start an export of ``fields`` for ``purpose``: the guarded read, subject by subject.

    Before anything streams: the purpose and fields are checked against the catalog (422),
    the export is recorded and its start audited (committed). Then, page by page (in
    subject order): the consent state is read fresh, the policy decides once per distinct
    set of facts (consent, tier, guardian, minor) as a bulk export whose volume is today's
    records plus this export's candidates, the subjects with anything revealed are
    recorded as the export's references (committed), and only then are their allowed
    fields decrypted, obliged (mask, redact) and yielded as JSON Lines
    (``{"subject": ..., "values": {...}}``). Subjects with nothing revealed are left out.
    The end is audited with the count and the manifest hash; an error stops the stream
    and is audited as such. ``now`` fixes the time of every page (tests); ``progress``
    is called with (subjects considered, subjects revealed) after each page.
    """
    who = _actor_pair(actor)
    where = where or ledger.CohortFilter()
    started = now or utcnow()
    purposes, specs = validate(session, [Question("sub_export", purpose, tuple(fields))])
    spec = purposes[purpose]
    candidates = ledger.cohort_count(session, spec, brand=actor.brand, where=where)
    if limit is not None:
        candidates = min(candidates, limit)
    volume = daily_volume(session, actor, started) + exported_today(session, actor, started)
    volume += candidates
    export_id = "exp_" + secrets.token_urlsafe(16)[:22]
    described = {
        "tiers": list(where.tiers) if where.tiers is not None else None,
        "created_after": where.created_after.isoformat() if where.created_after else None,
        "created_before": where.created_before.isoformat() if where.created_before else None,
        "limit": limit,
    }
    session.add(
        ProfileExport(
            id=export_id,
            actor_type=who[0],
            actor_id=who[1],
            brand_id=actor.brand,
            purpose=purpose,
            fields=list(fields),
            filter=described,
            status="running",
            candidates=candidates,
            subjects=0,
            started_at=started,
        )
    )
    service = policies.service()
    audit.record(
        session,
        action=EXPORT_ACTION,
        purpose=purpose,
        resource=f"export:{export_id}",
        policy_hash=service.bundle_hash,
        details={
            "export": export_id,
            "fields": sorted(fields),
            "filter": described,
            "candidates": candidates,
        },
        actor=who,
    )
    session.commit()
    field_inputs = [field_input(specs[name]) for name in fields]
    lines = _export_lines(
        session,
        actor,
        spec,
        field_inputs,
        _ExportRun(export_id, who, where, limit, volume, now, page_size, progress),
        crypto or profile_crypto(),
    )
    return CohortExport(export_id, candidates, lines)


@dataclass
class _ExportRun:
    """What one export's stream needs to know."""

    id: str
    who: tuple[str, str]
    where: ledger.CohortFilter
    limit: int | None
    volume: int
    now: dt.datetime | None
    page_size: int
    progress: Callable[[int, int], None] | None
    revealed: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


def _export_lines(
    session: Session,
    actor: Actor,
    spec: Any,
    field_inputs: list[dict[str, Any]],
    run: _ExportRun,
    crypto: ProfileCrypto,
) -> Iterator[str]:
    service = policies.service()
    after = ""
    status = "failed"
    try:
        while run.limit is None or run.revealed < run.limit:
            moment = run.now or utcnow()
            local = moment.astimezone(LOCAL_ZONE)
            page = ledger.cohort_page(
                session,
                spec,
                after=after,
                limit=run.page_size,
                brand=actor.brand,
                where=run.where,
                now=moment,
            )
            if not page:
                break
            after = page[-1].answer.subject
            who = actor_input(actor, moment)
            context = request_context(
                local, policy_volume(run.volume, volume_thresholds(actor.type)), True
            )
            plans: dict[tuple[Any, ...], _Plan] = {}
            chosen: list[tuple[str, _Plan]] = []
            for member in page:
                answer = member.answer
                minor = ledger.is_minor(member.birth_year, local.date())
                key = (answer.valid, answer.reason, answer.tier, member.by_guardian, minor)
                plan = plans.get(key)
                if plan is None:
                    decision = service.decide(
                        decision_input(
                            who,
                            spec,
                            answer,
                            by_guardian=member.by_guardian,
                            minor=minor,
                            fields=field_inputs,
                            context=context,
                        )
                    )
                    if decision.error:
                        raise ApiError(
                            "service-unavailable",
                            "The policy engine could not decide; the export stopped.",
                        )
                    plan = plans[key] = _plan(decision)
                if plan.reveal:
                    chosen.append((answer.subject, plan))
            if run.limit is not None:
                chosen = chosen[: run.limit - run.revealed]
            if chosen:
                # The references are committed before any value of the page leaves.
                # A Core insert of the table (not the ORM's bulk path, which builds a
                # state per row): the references are plain (export, subject) pairs.
                session.execute(
                    insert(ExportSubject.__table__),  # type: ignore[arg-type]
                    [{"export_id": run.id, "subject_id": s} for s, _ in chosen],
                )
                session.execute(
                    update(ProfileExport)
                    .where(ProfileExport.id == run.id)
                    .values(subjects=run.revealed + len(chosen))
                )
                volume.add(session, run.who[0], run.who[1], moment, records=len(chosen))
                session.commit()
                lines = _page_lines(session, crypto, chosen)
                for subject, _ in chosen:
                    run.digest.update(subject.encode() + b"\n")
                run.revealed += len(chosen)
                yield from lines
            if run.progress is not None:
                run.progress(len(page), len(chosen))
        status = "complete"
    finally:
        _finish(session, spec.id, run, status)


def _finish(session: Session, purpose: str, run: _ExportRun, status: str) -> None:
    """Record how the export ended (and audit it), whatever happened to the stream."""
    session.rollback()
    manifest = run.digest.hexdigest() if status == "complete" else None
    session.execute(
        update(ProfileExport)
        .where(ProfileExport.id == run.id)
        .values(
            status=status,
            subjects=run.revealed,
            manifest_sha256=manifest,
            finished_at=utcnow(),
        )
    )
    audit.record(
        session,
        action=EXPORT_DONE_ACTION,
        decision="allow" if status == "complete" else "error",
        purpose=purpose,
        resource=f"export:{run.id}",
        details={
            "export": run.id,
            "status": status,
            "subjects": run.revealed,
            "manifest_sha256": manifest,
        },
        actor=run.who,
    )
    session.commit()


def _page_lines(
    session: Session, crypto: ProfileCrypto, chosen: list[tuple[str, _Plan]]
) -> list[str]:
    """The JSON lines of one page's revealed subjects (decrypted here, and only here).

    Two Core statements on the session's connections (the keys' on the key vault's),
    fetched at once as plain tuples: an export's cost is per subject, and the ORM's
    per-row work was a third of it.
    """
    ids = [subject for subject, _ in chosen]
    names = sorted({name for _, plan in chosen for name in plan.reveal})
    key_table, value_table = SubjectKey.__table__.c, ProfileValue.__table__.c
    key_rows = (
        session.connection(bind_arguments={"mapper": SubjectKey})
        .execute(
            select(key_table.subject_id, key_table.key_version, key_table.wrapped_key).where(
                key_table.subject_id.in_(ids)
            )
        )
        .all()
    )
    value_rows = (
        session.connection()
        .execute(
            select(value_table.subject_id, value_table.field, value_table.ciphertext).where(
                value_table.subject_id >= ids[0],
                value_table.subject_id <= ids[-1],
                value_table.field.in_(names),
            )
        )
        .all()
    )
    keys = {subject: (version, wrapped) for subject, version, wrapped in key_rows}
    blobs: dict[tuple[str, str], bytes] = {
        (subject, name): blob for subject, name, blob in value_rows
    }
    lines: list[str] = []
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    blob_of, key_of, oblige = blobs.get, keys.get, duties.apply
    with revealing():
        for subject, plan in chosen:
            key = key_of(subject)
            cipher: SubjectCipher | None = (
                crypto.open_subject_key(subject, key[0], key[1]) if key is not None else None
            )
            values: dict[str, Any] = {}
            for name, obligations in plan.reveal.items():
                blob = blob_of((subject, name))
                value = (
                    cipher.decrypt(name, bytes(blob))
                    if cipher is not None and blob is not None
                    else None
                )
                # Without obligations (the common case) the value is as decrypted.
                values[name] = oblige(value, obligations)[0] if obligations else value
            lines.append(dumps({"subject": subject, "values": values}) + "\n")
    return lines
