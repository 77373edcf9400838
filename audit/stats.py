"""Counts over the audit log for the console's charts and the compliance self-check.

Each function takes a time window ``[since, until)`` in the log's time form
(:func:`audit.log.format_time`), turns it into a ``seq`` range by binary search
(:func:`audit.query.seq_range`) and groups inside the database, so only the groups come
back. There is no index on decision or action: a count reads every entry of its window,
so the console asks for days or weeks, not the whole log.

Functions receive the caller's session and never commit.
"""

from __future__ import annotations

from collections import Counter

import orjson
from sqlalchemy import ColumnElement, func, select
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


def denials_by_reason(session: Session, since: str, until: str) -> list[tuple[str, int]]:
    """Denied decisions in the window per reason code, most frequent first.

    A denial with several reasons counts once under each; one with none counts under
    ``""``. Ties are broken by reason, so the order is stable.
    """
    t = ENTRIES
    statement = (
        select(t.c.reasons, func.count())
        .where(t.c.decision == "deny", *window(session, since, until))
        .group_by(t.c.reasons)
    )
    counts: Counter[str] = Counter()
    for reasons, n in session.execute(statement):
        for reason in orjson.loads(reasons) or [""]:
            counts[str(reason)] += int(n)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))
