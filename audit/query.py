"""Reading the audit log: filters, keyset pages newest first, batches for export.

Built for a log of a billion entries, so nothing here counts rows, skips with ``OFFSET``
or scans a table where an index can answer:

- **Pages** are keyset pages on ``seq``, newest first: ``seq < before ORDER BY seq DESC
  LIMIT n``. Each page asks for one row more than it returns, to know whether another
  page follows without a second query.
- **Time** has no index (see :mod:`audit.models`): ``logged_at`` never decreases along
  ``seq``, so :func:`seq_range` turns a time range into a ``seq`` range by binary search
  over the primary key, O(log n) single-row index seeks. The time conditions are also
  kept as plain filters on the rows selected, so an ``until`` later than the newest entry
  stays right while the log grows.
- **Filters** with an index (subject; purpose; actor type *and* id) walk that index,
  which ends in ``seq``. The others (action, decision, actor type or id alone) ride on
  ``seq`` order; without an indexed filter beside them, one page examines at most
  ``scan_window`` entries. A page can therefore hold fewer items than asked for, even
  none, and still have a next cursor: keep following it until it is ``None``.

Functions receive the caller's session and never commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select
from sqlalchemy.orm import Session

from audit.log import CheckpointInfo, checkpoint_info, log_size
from audit.models import CHECKPOINTS, ENTRIES

#: At most this many entries are examined by one page whose filters have no index.
SCAN_WINDOW = 100_000
#: Rows fetched per query while exporting.
EXPORT_BATCH = 1_000
#: Largest value a BIGINT column holds (PostgreSQL refuses larger parameters).
MAX_SEQ = 2**63 - 1

#: Columns a reader needs: everything but the stored Merkle nodes and the chain hash.
_READ_COLUMNS = tuple(c for c in ENTRIES.columns if c.name not in {"nodes", "chain_hash"})


@dataclass(frozen=True)
class EntryFilter:
    """What to select: every given field must match; ``None`` matches anything.

    ``since`` and ``until`` are times in the log's fixed-width form
    (:func:`audit.log.format_time`): ``since`` <= time < ``until``.
    """

    since: str | None = None
    until: str | None = None
    actor_type: str | None = None
    actor_id: str | None = None
    subject: str | None = None
    purpose: str | None = None
    action: str | None = None
    decision: str | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> EntryFilter:
        """The filter named by ``values`` (other keys are ignored)."""
        return cls(**{f.name: values.get(f.name) for f in fields(cls)})

    @property
    def indexed(self) -> bool:
        """True if an index narrows the entries to those matching (no scan window)."""
        return (
            self.subject is not None
            or self.purpose is not None
            or (self.actor_type is not None and self.actor_id is not None)
        )


@dataclass(frozen=True)
class SeqRange:
    """Entries ``start <= seq < stop``; ``stop`` None: no upper bound."""

    start: int = 0
    stop: int | None = None


@dataclass(frozen=True)
class EntryPage:
    """One page of entries, newest first, and where the next page starts."""

    rows: list[dict[str, Any]]
    #: Pass as ``before`` for the next page; None when there is nothing more.
    next_before: int | None


#: ``probe(s)``: (seq, time) of the first stored entry with seq >= s, or None.
Probe = Callable[[int], tuple[int, str] | None]


def boundary(probe: Probe, moment: str, size: int) -> int:
    """The first position in ``[0, size]`` from which every entry is at or after ``moment``.

    Binary search over positions with O(log size) probes. Entries at positions below the
    result are all earlier than ``moment``. ``probe`` may skip missing positions (an
    archived range), so the search needs no entry at every position.
    """
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        found = probe(mid)
        if found is None or found[0] >= hi or found[1] >= moment:
            # Every stored entry in [mid, hi) is at or after moment.
            hi = mid
        else:
            # Everything up to the found entry is earlier than moment.
            lo = found[0] + 1
    return lo


def _probe(session: Session) -> Probe:
    t = ENTRIES
    statement = (
        select(t.c.seq, t.c.logged_at)
        .where(t.c.seq >= bindparam("position"))
        .order_by(t.c.seq)
        .limit(1)
    )

    def probe(position: int) -> tuple[int, str] | None:
        row = session.execute(statement, {"position": position}).first()
        return None if row is None else (int(row.seq), str(row.logged_at))

    return probe


def seq_range(session: Session, since: str | None, until: str | None) -> SeqRange:
    """The ``seq`` range holding the entries logged in ``[since, until)``.

    An open end stays open. An ``until`` after the newest entry gives no upper bound
    (entries appended later may still be earlier than it); the caller filters on time as
    well (:func:`entries_page` does).
    """
    if since is None and until is None:
        return SeqRange()
    size = log_size(session)
    probe = _probe(session)
    start = 0 if since is None else boundary(probe, since, size)
    stop = None
    if until is not None:
        stop = boundary(probe, until, size)
        if stop >= size:
            stop = None
    return SeqRange(start, stop)


def _conditions(filters: EntryFilter) -> list[ColumnElement[bool]]:
    t = ENTRIES
    equal = (
        (t.c.actor_type, filters.actor_type),
        (t.c.actor_id, filters.actor_id),
        (t.c.subject_id, filters.subject),
        (t.c.purpose, filters.purpose),
        (t.c.action, filters.action),
        (t.c.decision, filters.decision),
    )
    out: list[ColumnElement[bool]] = [
        column == value for column, value in equal if value is not None
    ]
    if filters.since is not None:
        out.append(t.c.logged_at >= filters.since)
    if filters.until is not None:
        out.append(t.c.logged_at < filters.until)
    return out


def entries_page(
    session: Session,
    filters: EntryFilter,
    *,
    before: int | None = None,
    limit: int = 50,
    within: SeqRange | None = None,
    scan_window: int = SCAN_WINDOW,
) -> EntryPage:
    """Entries matching ``filters`` with ``seq < before``, newest first, at most ``limit``.

    ``within`` is the time range already turned into a ``seq`` range (:func:`seq_range`;
    computed here when not given). Without an indexed filter, the page examines at most
    ``scan_window`` positions (0: no limit) and may come back short with a next cursor.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    if within is None:
        within = seq_range(session, filters.since, filters.until)
    lower = within.start
    bounds = [b for b in (before, within.stop) if b is not None]
    upper = min(bounds) if bounds else None
    window_low = lower
    if not filters.indexed and scan_window > 0:
        # The window ends at the newest entry, however far beyond it ``before`` points.
        size = log_size(session)
        upper = size if upper is None else min(upper, size)
        window_low = max(lower, upper - scan_window)
    if upper is not None and upper <= lower:
        return EntryPage([], None)
    t = ENTRIES
    conditions = _conditions(filters)
    if window_low > 0:
        conditions.append(t.c.seq >= window_low)
    if upper is not None:
        conditions.append(t.c.seq < upper)
    statement = select(*_READ_COLUMNS).where(*conditions).order_by(t.c.seq.desc()).limit(limit + 1)
    rows = [dict(row) for row in session.execute(statement).mappings()]
    if len(rows) > limit:
        del rows[limit:]
        return EntryPage(rows, rows[-1]["seq"])
    if window_low > lower:
        return EntryPage(rows, window_low)  # the window ended; older entries remain
    return EntryPage(rows, None)


def iter_entries(
    session: Session,
    filters: EntryFilter,
    *,
    within: SeqRange | None = None,
    batch: int = EXPORT_BATCH,
    scan_window: int = SCAN_WINDOW,
) -> Iterator[list[dict[str, Any]]]:
    """Every entry matching ``filters``, newest first, in non-empty batches of <= ``batch``.

    Memory stays at one batch however many entries match. Each batch is fetched whole
    before it is yielded, so no cursor stays open while the caller works; the caller may
    end the session's transaction between batches.
    """
    if within is None:
        within = seq_range(session, filters.since, filters.until)
    before: int | None = None
    while True:
        page = entries_page(
            session,
            filters,
            before=before,
            limit=batch,
            within=within,
            scan_window=scan_window,
        )
        if page.rows:
            yield page.rows
        if page.next_before is None:
            return
        before = page.next_before


# -- checkpoints -----------------------------------------------------------------------------


def checkpoints_page(
    session: Session, *, before_id: int | None = None, limit: int = 50
) -> tuple[list[CheckpointInfo], int | None]:
    """Checkpoints with ``id < before_id``, newest first, and the next cursor (or None)."""
    if limit < 1:
        raise ValueError("limit must be positive")
    c = CHECKPOINTS
    statement = select(c).order_by(c.c.id.desc()).limit(limit + 1)
    if before_id is not None:
        statement = statement.where(c.c.id < before_id)
    found = [checkpoint_info(row) for row in session.execute(statement)]
    if len(found) > limit:
        del found[limit:]
        return found, found[-1].id
    return found, None


def checkpoint_of_size(session: Session, tree_size: int) -> CheckpointInfo | None:
    """The checkpoint that signed the tree of ``tree_size`` entries, if one did."""
    c = CHECKPOINTS
    row = session.execute(select(c).where(c.c.tree_size == tree_size)).first()
    return None if row is None else checkpoint_info(row)
