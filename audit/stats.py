"""Counts over the audit log for the console's charts and the compliance self-check.

Each function takes a time window ``[since, until)`` in the log's time form
(:func:`audit.log.format_time`), turns it into a ``seq`` range by binary search
(:func:`audit.query.seq_range`) and groups inside the database, so only the groups come
back. There is no index on decision or action: a count reads every entry of its window,
so the console asks for days or weeks, not the whole log.

Functions receive the caller's session and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from audit.models import ENTRIES
from audit.query import seq_range


def window(session: Session, since: str, until: str) -> list[ColumnElement[bool]]:
    """Conditions selecting the entries logged in ``[since, until)``, by ``seq`` first."""
    t = ENTRIES
    within = seq_range(session, since, until)
    out: list[ColumnElement[bool]] = [t.c.logged_at >= since, t.c.logged_at < until]
    if within.start:
        out.append(t.c.seq >= within.start)
    if within.stop is not None:
        out.append(t.c.seq < within.stop)
    return out


def denials_by_reason(
    session: Session, since: str, until: str, actions: Sequence[str] | None = None
) -> list[tuple[str, int]]:
    """Denied decisions in the window per reason code, most frequent first.

    ``actions`` keeps only the entries of those actions (None: every action). A denial
    with several reasons counts once under each; one with none counts under ``""``. Ties
    are broken by reason, so the order is stable.
    """
    t = ENTRIES
    conditions = [t.c.decision == "deny", *window(session, since, until)]
    if actions is not None:
        conditions.append(t.c.action.in_(list(actions)))
    statement = select(t.c.reasons, func.count()).where(*conditions).group_by(t.c.reasons)
    counts: Counter[str] = Counter()
    for reasons, n in session.execute(statement):
        for reason in orjson.loads(reasons) or [""]:
            counts[str(reason)] += int(n)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def decisions_by_purpose(
    session: Session, since: str, until: str, actions: Sequence[str]
) -> list[tuple[str | None, str, int]]:
    """(purpose, decision, count) of the entries of ``actions`` in the window.

    Ordered by purpose (entries without one last) then decision.
    """
    t = ENTRIES
    statement = (
        select(t.c.purpose, t.c.decision, func.count())
        .where(t.c.action.in_(list(actions)), *window(session, since, until))
        .group_by(t.c.purpose, t.c.decision)
    )
    rows = [(p, str(d), int(n)) for p, d, n in session.execute(statement)]
    return sorted(rows, key=lambda row: (row[0] is None, row[0] or "", row[1]))


@dataclass(frozen=True)
class ActorSlot:
    """How many entries one actor has in one UTC hour (or quarter of an hour)."""

    actor_type: str
    actor_id: str
    start: dt.datetime  # UTC, aware: the hour, or its quarter
    count: int


def entries_by_actor_and_hour(
    session: Session,
    since: str,
    until: str,
    actions: Sequence[str],
    *,
    skip_actor_types: Sequence[str] = (),
    quarters: bool = False,
) -> list[ActorSlot]:
    """Entries of ``actions`` in the window per actor and UTC hour (or quarter-hour).

    Hours come from the fixed-width ``logged_at`` text (its first 13 characters), so the
    grouping is the same on every database; ``quarters`` splits each hour at :15, :30
    and :45, for time zones whose offset is not whole hours. At most actors x hours rows
    come back, whatever the number of entries.
    """
    t = ENTRIES
    hour = func.substr(t.c.logged_at, 1, 13)
    minute = func.substr(t.c.logged_at, 15, 2)
    groups: list[ColumnElement[Any]] = [t.c.actor_type, t.c.actor_id, hour]
    if quarters:
        groups.append(case((minute < "15", 0), (minute < "30", 15), (minute < "45", 30), else_=45))
    conditions = [t.c.action.in_(list(actions)), *window(session, since, until)]
    if skip_actor_types:
        conditions.append(t.c.actor_type.not_in(list(skip_actor_types)))
    statement = select(*groups, func.count()).where(*conditions).group_by(*groups)
    out = []
    for row in session.execute(statement):
        start = dt.datetime.strptime(row[2], "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
        if quarters:
            start += dt.timedelta(minutes=int(row[3]))
        out.append(ActorSlot(str(row[0]), str(row[1]), start, int(row[-1])))
    return out
