"""“Who used my data”: the reads of one customer's profile, and the exports that held them.

Reads come from the audit trail (``profile.read`` entries about the subject, newest first,
keyset-paged by ``seq`` on the ``(subject_id, seq)`` index), so each one can be proved to
be in the signed log (:mod:`governance.web.proofs`). Cohort exports that revealed the
customer come from ``export_subjects`` (the export's own audit entries are about the
whole cohort, not one customer). Who read is named as the customer may know it: a
service by its registered name, an operator by role, never by person.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.log import parse_time
from audit.query import EntryFilter, entries_page
from consent import ledger
from governance.auth.models import ApiKey, Operator
from governance.profiles.models import ExportSubject, ProfileExport
from policies.inputs import READ_ACTION, SUBJECT_ACCESS_PURPOSE

__all__ = ["PAGE_SIZE", "Export", "Read", "Reader", "exports_of", "reads_of"]

PAGE_SIZE = 20
#: The newest exports listed (a customer is in few; the copy of their data lists all).
EXPORTS_SHOWN = 50


@dataclass(frozen=True)
class Reader:
    """Who read: ``kind`` is service, operator, partner, subject (the customer) or other."""

    kind: str
    name: str = ""  # a service's or partner's registered name
    roles: tuple[str, ...] = ()  # an operator's roles


@dataclass(frozen=True)
class Read:
    """One guarded read of the customer's profile, as the audit trail recorded it."""

    seq: int
    time: dt.datetime
    purpose: str | None
    reader: Reader
    decision: str  # allow / deny / error
    revealed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def own_access(self) -> bool:
        """The customer's own read (their copy)."""
        return self.purpose == SUBJECT_ACCESS_PURPOSE


@dataclass(frozen=True)
class Export:
    """A cohort export that revealed the customer."""

    id: str
    time: dt.datetime
    purpose: str
    reader: Reader
    fields: tuple[str, ...] = field(default=())


def _readers(session: Session, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Reader]:
    """Name every (actor type, actor id) pair in a few queries (never one per row)."""
    wanted = set(pairs)
    keys = [i for t, i in wanted if t == "service"]
    operators = [int(i) for t, i in wanted if t == "operator" and i.isdigit()]
    partners = [i for t, i in wanted if t == "partner"]
    names: dict[tuple[str, str], Reader] = {}
    if keys:
        for key_id, name in session.execute(
            select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(keys))
        ):
            names[("service", key_id)] = Reader("service", name=name)
    if operators:
        for op_id, roles in session.execute(
            select(Operator.id, Operator.roles).where(Operator.id.in_(operators))
        ):
            names[("operator", str(op_id))] = Reader("operator", roles=tuple(sorted(roles)))
    if partners:
        from federated.governance.models import Partner

        for partner_id, name in session.execute(
            select(Partner.id, Partner.name).where(Partner.id.in_(partners))
        ):
            names[("partner", partner_id)] = Reader("partner", name=name)
    out: dict[tuple[str, str], Reader] = {}
    for kind, ident in wanted:
        if kind == "subject":
            out[(kind, ident)] = Reader("subject")
        else:
            out[(kind, ident)] = names.get(
                (kind, ident),
                Reader(kind if kind in {"service", "operator", "partner"} else "other"),
            )
    return out


def _names(details: dict[str, Any], key: str) -> tuple[str, ...]:
    value = details.get(key) or []
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def reads_of(
    session: Session, subject_id: str, *, before: int | None = None, limit: int | None = None
) -> tuple[list[Read], int | None]:
    """The subject's profile reads, newest first, and the cursor of the next page."""
    page = entries_page(
        session,
        EntryFilter(subject=subject_id, action=READ_ACTION),
        before=before,
        limit=limit or PAGE_SIZE,
    )
    readers = _readers(session, ((r["actor_type"], r["actor_id"]) for r in page.rows))
    reads = []
    for row in page.rows:
        details = orjson.loads(row["details"]) or {}
        reads.append(
            Read(
                seq=row["seq"],
                time=parse_time(row["logged_at"]),
                purpose=row["purpose"],
                reader=readers[(row["actor_type"], row["actor_id"])],
                decision=row["decision"],
                revealed=_names(details, "revealed"),
                denied=_names(details, "denied"),
                reasons=tuple(orjson.loads(row["reasons"]) or ()),
            )
        )
    return reads, page.next_before


def exports_of(session: Session, subject_id: str, *, limit: int = EXPORTS_SHOWN) -> list[Export]:
    """The newest cohort exports that revealed the subject."""
    rows = list(
        session.scalars(
            select(ProfileExport)
            .join(ExportSubject, ExportSubject.export_id == ProfileExport.id)
            .where(ExportSubject.subject_id == subject_id)
            .order_by(ProfileExport.started_at.desc(), ProfileExport.id.desc())
            .limit(limit)
        )
    )
    readers = _readers(session, ((e.actor_type, e.actor_id) for e in rows))
    return [
        Export(
            id=e.id,
            time=ledger.as_utc(e.started_at),
            purpose=e.purpose,
            reader=readers[(e.actor_type, e.actor_id)],
            fields=tuple(e.fields or ()),
        )
        for e in rows
    ]
