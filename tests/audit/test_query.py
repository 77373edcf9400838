"""Reading the log: filters, the time-to-seq binary search, keyset pages, export batches.

The entries here are appended with :func:`audit.log.append_many` at chosen times, one
hour apart from 2026-11-25T08:00:00Z unless a test says otherwise, so that time ranges
select known positions. Subjects, actors and purposes are invented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

import audit
from audit import query
from audit.log import EntryDraft, append_many, create_checkpoint, format_time
from audit.query import EntryFilter, SeqRange, boundary, entries_page, iter_entries, seq_range

START = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ALICE = "sub_AliceFictional00000001"
BOB = "sub_BobFictional0000000002"


def _draft(**fields: Any) -> EntryDraft:
    base: dict[str, Any] = {"action": "test.event", "actor_type": "system", "actor_id": "tests"}
    return EntryDraft(**{**base, **fields})


def _append_hourly(
    session: Session, drafts: Sequence[EntryDraft], *, first: dt.datetime = START
) -> None:
    """Append each draft one hour after the one before, starting at ``first``; commit."""
    for i, draft in enumerate(drafts):
        append_many(session, [draft], now=first + i * HOUR)
    session.commit()


def _at(hours: float) -> str:
    """The log's time form of START + ``hours``."""
    return format_time(START + dt.timedelta(hours=hours))


def _seqs(rows: Sequence[dict[str, Any]]) -> list[int]:
    return [row["seq"] for row in rows]


def _follow(session: Session, filters: EntryFilter, **kwargs: Any) -> list[query.EntryPage]:
    """Every page from the newest, following ``next_before`` until it is None."""
    pages = []
    before = None
    while True:
        page = entries_page(session, filters, before=before, **kwargs)
        pages.append(page)
        if page.next_before is None:
            return pages
        assert len(pages) < 1000, "the cursor does not move"
        before = page.next_before


# -- EntryFilter -----------------------------------------------------------------------------


def test_filter_from_mapping_takes_its_fields_and_ignores_the_rest() -> None:
    values = {"subject": ALICE, "decision": "deny", "limit": 5, "before": 9, "format": "csv"}

    filters = EntryFilter.from_mapping(values)

    assert filters == EntryFilter(subject=ALICE, decision="deny")


@pytest.mark.parametrize(
    ("filters", "indexed"),
    [
        (EntryFilter(), False),
        (EntryFilter(subject=ALICE), True),
        (EntryFilter(purpose="marketing_push"), True),
        (EntryFilter(actor_type="service", actor_id="key_fict01"), True),
        (EntryFilter(actor_type="service"), False),
        (EntryFilter(actor_id="key_fict01"), False),
        (EntryFilter(action="profile.read"), False),
        (EntryFilter(decision="deny"), False),
        (EntryFilter(since=_at(0), until=_at(5)), False),
        (EntryFilter(decision="deny", purpose="analytics"), True),
    ],
)
def test_filter_is_indexed_only_when_an_index_narrows_it(
    filters: EntryFilter, indexed: bool
) -> None:
    assert filters.indexed is indexed


# -- boundary: the binary search -------------------------------------------------------------


class FakeLog:
    """Entries at some positions only (others archived), times as fixed-width text."""

    def __init__(self, times: Sequence[int], missing: Collection[int] = ()) -> None:
        self.stored = {seq: f"{t:06d}" for seq, t in enumerate(times) if seq not in missing}
        self.calls: list[int] = []

    def probe(self, position: int) -> tuple[int, str] | None:
        self.calls.append(position)
        later = [seq for seq in self.stored if seq >= position]
        if not later:
            return None
        first = min(later)
        return first, self.stored[first]

    def reference(self, moment: str, size: int) -> int:
        """Brute force: one past the last stored entry below ``size`` earlier than moment."""
        earlier = [seq for seq, t in self.stored.items() if seq < size and t < moment]
        return max(earlier, default=-1) + 1


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (-1, 0),  # before everything
        (0, 0),  # exactly the first time: the first entry is at or after it
        (1, 1),
        (25, 3),  # between 20 and 30
        (30, 3),  # a run of equal times: its first position
        (31, 6),
        (60, 7),
        (61, 8),  # after everything: the size
    ],
)
def test_boundary_finds_the_first_position_at_or_after_the_moment(
    moment: int, expected: int
) -> None:
    log = FakeLog([0, 10, 20, 30, 30, 30, 50, 60])

    found = boundary(log.probe, f"{moment:06d}", 8)

    assert found == expected
    assert found == log.reference(f"{moment:06d}", 8)


def test_boundary_of_an_empty_log_is_zero_without_a_probe() -> None:
    log = FakeLog([])

    assert boundary(log.probe, "000010", 0) == 0
    assert log.calls == []


def test_boundary_skips_an_archived_tile() -> None:
    # Entries 0-6 of the tile 0-7 are archived; row 7 keeps the tile's hashes.
    log = FakeLog([i * 10 for i in range(16)], missing=set(range(7)))

    assert boundary(log.probe, "000035", 16) == 0  # nothing stored is earlier
    assert boundary(log.probe, "000075", 16) == 8
    assert boundary(log.probe, "000200", 16) == 16


def test_boundary_ignores_entries_appended_after_the_size_was_read() -> None:
    # The caller read size 4; entries 4 and 5 arrived since, with times still early.
    log = FakeLog([0, 10, 20, 30, 30, 30])

    assert boundary(log.probe, "000031", 4) == 4


@settings(max_examples=300, deadline=None, database=None)
@given(
    data=st.data(),
    gaps=st.lists(st.integers(min_value=0, max_value=5), max_size=40),
)
def test_boundary_agrees_with_brute_force_in_log_probes(data: Any, gaps: list[int]) -> None:
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]  # never decreasing
    n = len(times)
    missing = data.draw(st.sets(st.integers(min_value=0, max_value=max(n - 1, 0))), "missing")
    size = data.draw(st.integers(min_value=0, max_value=n), "size")
    moment = f"{data.draw(st.integers(min_value=-1, max_value=times[-1] + 1 if times else 1)):06d}"
    log = FakeLog(times, missing)

    found = boundary(log.probe, moment, size)

    assert found == log.reference(moment, size)
    assert 0 <= found <= size
    assert len(log.calls) <= size.bit_length()


# -- seq_range against the database ----------------------------------------------------------


@pytest.fixture
def eight_hours(db: Session) -> Session:
    """Entries 0-7 at 08:00, 09:00, ... 15:00 UTC on 2026-11-25."""
    _append_hourly(db, [_draft(details={"n": i}) for i in range(8)])
    return db


def test_seq_range_turns_a_time_range_into_positions(eight_hours: Session) -> None:
    table = [  # (since, until, expected)
        (None, None, SeqRange(0, None)),
        (_at(-1), None, SeqRange(0, None)),  # since before the oldest
        (_at(3), None, SeqRange(3, None)),  # exactly entry 3's time: inclusive
        (_at(3.5), None, SeqRange(4, None)),
        (_at(7), None, SeqRange(7, None)),
        (_at(9), None, SeqRange(8, None)),  # since after the newest: nothing yet
        (None, _at(3), SeqRange(0, 3)),  # until exactly entry 3's time: exclusive
        (None, _at(2.5), SeqRange(0, 3)),
        (None, _at(-1), SeqRange(0, 0)),  # until before the oldest
        (None, _at(7), SeqRange(0, 7)),  # until the newest's time: it is excluded
        (None, _at(7.5), SeqRange(0, None)),  # until after the newest: open stop
        (_at(2), _at(5), SeqRange(2, 5)),
        (_at(1.5), _at(100), SeqRange(2, None)),
    ]

    got = [(since, until, seq_range(eight_hours, since, until)) for since, until, _ in table]

    assert got == table


def test_seq_range_on_an_empty_log_is_open(db: Session) -> None:
    assert seq_range(db, _at(0), _at(5)) == SeqRange(0, None)


def test_seq_range_of_a_batch_with_one_time_starts_at_its_first_entry(db: Session) -> None:
    _append_hourly(db, [_draft(), _draft()])  # 0 at 08:00, 1 at 09:00
    append_many(db, [_draft() for _ in range(4)], now=START + 2 * HOUR)  # 2-5 at 10:00
    db.commit()

    assert seq_range(db, _at(2), _at(2.5)) == SeqRange(2, None)
    assert seq_range(db, _at(1), _at(2)) == SeqRange(1, 2)


def test_open_until_still_excludes_entries_appended_later_at_or_after_it(db: Session) -> None:
    _append_hourly(db, [_draft(details={"n": i}) for i in range(3)])  # 08:00-10:00
    filters = EntryFilter(until=_at(5))  # 13:00, after the newest
    within = seq_range(db, filters.since, filters.until)
    _append_hourly(db, [_draft(details={"n": 3}), _draft(details={"n": 4})], first=START + 3 * HOUR)
    _append_hourly(db, [_draft(details={"n": 5})], first=START + 5 * HOUR)  # exactly until

    page = entries_page(db, filters, within=within, limit=10)

    assert within == SeqRange(0, None)
    assert _seqs(page.rows) == [4, 3, 2, 1, 0]  # entry 5 is at until: excluded
    assert page.next_before is None


# -- entries_page ----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [0, -1])
def test_entries_page_refuses_a_limit_below_one(db: Session, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        entries_page(db, EntryFilter(), limit=limit)


def test_entries_page_of_an_empty_log_is_empty_and_final(db: Session) -> None:
    page = entries_page(db, EntryFilter(decision="deny"), limit=5)

    assert page.rows == []
    assert page.next_before is None


def test_pages_go_newest_first_and_the_last_full_page_has_no_cursor(db: Session) -> None:
    _append_hourly(db, [_draft(details={"n": i}) for i in range(10)])

    first = entries_page(db, EntryFilter(), limit=5)
    second = entries_page(db, EntryFilter(), before=first.next_before, limit=5)

    assert _seqs(first.rows) == [9, 8, 7, 6, 5]
    assert first.next_before == 5
    assert _seqs(second.rows) == [4, 3, 2, 1, 0]
    assert second.next_before is None


def test_page_rows_carry_the_read_columns_but_not_the_tree_nodes(db: Session) -> None:
    _append_hourly(db, [_draft(subject=ALICE, purpose="analytics", details={"n": 1})])

    (row,) = entries_page(db, EntryFilter(), limit=1).rows

    assert row["subject_id"] == ALICE
    assert row["purpose"] == "analytics"
    assert row["logged_at"] == _at(0)
    assert len(bytes(row["leaf_hash"])) == 32
    assert "nodes" not in row
    assert "chain_hash" not in row


def test_before_at_or_below_the_range_start_gives_an_empty_final_page(eight_hours: Session) -> None:
    page = entries_page(eight_hours, EntryFilter(since=_at(4)), before=4, limit=5)

    assert page.rows == []
    assert page.next_before is None


def test_before_and_a_time_range_both_bound_the_page(eight_hours: Session) -> None:
    filters = EntryFilter(since=_at(1), until=_at(6))

    near = entries_page(eight_hours, filters, before=4, limit=10)
    far = entries_page(eight_hours, filters, before=7, limit=10)

    assert _seqs(near.rows) == [3, 2, 1]
    assert _seqs(far.rows) == [5, 4, 3, 2, 1]


DENIED = {3, 4, 17, 28}


@pytest.fixture
def sparse_denials(db: Session) -> Session:
    """30 entries, denied at DENIED only; half of them about Alice."""
    drafts = [
        _draft(
            decision="deny" if i in DENIED else "allow",
            subject=ALICE if i % 2 else None,
            details={"n": i},
        )
        for i in range(30)
    ]
    append_many(db, drafts, now=START)
    db.commit()
    return db


def test_small_scan_window_gives_short_pages_and_following_them_finds_every_match(
    sparse_denials: Session,
) -> None:
    pages = _follow(sparse_denials, EntryFilter(decision="deny"), limit=10, scan_window=5)

    found = [seq for page in pages for seq in _seqs(page.rows)]
    assert found == sorted(DENIED, reverse=True)
    assert len(pages) == 6  # one per window of 5 positions: 25-29, 20-24, ..., 0-4
    assert any(not page.rows and page.next_before is not None for page in pages)
    for before, page in zip([None, *[p.next_before for p in pages]], pages, strict=False):
        upper = 30 if before is None else before
        assert all(upper - 5 <= seq < upper for seq in _seqs(page.rows))


def test_scan_window_cursor_inside_a_window_when_the_page_fills(sparse_denials: Session) -> None:
    # A window of 20 over 10-29 holds 17 and 28; a limit of 1 stops at 28.
    first = entries_page(sparse_denials, EntryFilter(decision="deny"), limit=1, scan_window=20)
    second = entries_page(
        sparse_denials, EntryFilter(decision="deny"), before=28, limit=1, scan_window=20
    )

    assert (_seqs(first.rows), first.next_before) == ([28], 28)
    assert (_seqs(second.rows), second.next_before) == ([17], 8)  # window 8-27 ended


def test_scan_window_does_not_cut_an_indexed_filter(sparse_denials: Session) -> None:
    page = entries_page(
        sparse_denials, EntryFilter(subject=ALICE, decision="deny"), limit=10, scan_window=5
    )

    assert _seqs(page.rows) == [17, 3]
    assert page.next_before is None


def test_scan_window_zero_means_no_window(sparse_denials: Session) -> None:
    page = entries_page(sparse_denials, EntryFilter(decision="deny"), limit=10, scan_window=0)

    assert _seqs(page.rows) == [28, 17, 4, 3]
    assert page.next_before is None


def test_scan_window_starts_at_the_newest_entry_when_before_is_beyond_the_log(
    sparse_denials: Session,
) -> None:
    # The API accepts any before up to 2**63 - 1. Positions past the log hold nothing, so
    # a window spent on them finds nothing: the first window should end at the newest
    # entry (as it does without before), not at before.
    page = entries_page(
        sparse_denials, EntryFilter(decision="deny"), before=1_000_000, limit=10, scan_window=5
    )

    assert _seqs(page.rows) == [28]
    assert page.next_before == 25


def test_scan_window_counts_from_the_time_range_stop(eight_hours: Session) -> None:
    filters = EntryFilter(action="test.event", until=_at(6))  # entries 0-5

    page = entries_page(eight_hours, filters, limit=10, scan_window=2)

    assert _seqs(page.rows) == [5, 4]
    assert page.next_before == 4


def test_entries_page_applies_every_filter_given(db: Session) -> None:
    service_1 = {"actor_type": "service", "actor_id": "key_fict01"}
    _append_hourly(
        db,
        [
            _draft(action="profile.read", subject=ALICE, purpose="marketing_push", **service_1),
            _draft(action="consent.withdraw", actor_type="subject", actor_id=ALICE, subject=ALICE),
            _draft(
                action="profile.read",
                subject=BOB,
                purpose="marketing_push",
                decision="deny",
                **service_1,
            ),
            _draft(
                action="profile.read",
                actor_type="service",
                actor_id="key_fict02",
                subject=BOB,
                purpose="analytics",
            ),
            _draft(action="auth.login", actor_type="operator", actor_id="7", resource="console"),
            _draft(action="catalog.load", actor_id="cli"),
            _draft(
                action="profile.read",
                subject=ALICE,
                purpose="analytics",
                decision="error",
                **service_1,
            ),
            _draft(
                action="consent.grant",
                actor_type="subject",
                actor_id=BOB,
                subject=BOB,
                purpose="analytics",
            ),
        ],
    )

    table = [
        (EntryFilter(actor_type="service", actor_id="key_fict01"), [6, 2, 0]),
        (EntryFilter(actor_type="service"), [6, 3, 2, 0]),
        (EntryFilter(actor_id="key_fict01"), [6, 2, 0]),
        (EntryFilter(subject=BOB), [7, 3, 2]),
        (EntryFilter(purpose="analytics"), [7, 6, 3]),
        (EntryFilter(action="profile.read"), [6, 3, 2, 0]),
        (EntryFilter(decision="deny"), [2]),
        (EntryFilter(action="profile.read", purpose="marketing_push", decision="allow"), [0]),
        (EntryFilter(subject=BOB, since=_at(2.5)), [7, 3]),
        (EntryFilter(actor_type="subject", subject=BOB), [7]),
        (EntryFilter(subject=ALICE, until=_at(1)), [0]),
        (EntryFilter(decision="error", purpose="marketing_push"), []),
    ]

    got = [
        (filters, [seq for page in _follow(db, filters, limit=2) for seq in _seqs(page.rows)])
        for filters, _expected in table
    ]

    assert got == table


# -- iter_entries ----------------------------------------------------------------------------


def test_iter_entries_yields_full_batches_newest_first(db: Session) -> None:
    append_many(db, [_draft(details={"n": i}) for i in range(12)], now=START)
    db.commit()

    batches = [_seqs(batch) for batch in iter_entries(db, EntryFilter(), batch=5)]

    assert batches == [[11, 10, 9, 8, 7], [6, 5, 4, 3, 2], [1, 0]]


def test_iter_entries_never_yields_an_empty_batch(sparse_denials: Session) -> None:
    batches = list(iter_entries(sparse_denials, EntryFilter(decision="deny"), scan_window=5))

    assert [_seqs(b) for b in batches] == [[28], [17], [4, 3]]


def test_iter_entries_with_no_match_yields_nothing(sparse_denials: Session) -> None:
    assert list(iter_entries(sparse_denials, EntryFilter(decision="error"), batch=3)) == []


def test_iter_entries_respects_a_time_range(eight_hours: Session) -> None:
    filters = EntryFilter(since=_at(2), until=_at(6))

    batches = [_seqs(batch) for batch in iter_entries(eight_hours, filters, batch=3)]

    assert batches == [[5, 4, 3], [2]]


# -- checkpoints -----------------------------------------------------------------------------


@pytest.fixture
def three_checkpoints(app: Any, db: Session) -> Session:
    """Checkpoints 0, 1, 2 over 2, 4 and 6 entries."""
    signer = audit.get_signer(app)
    for round_ in range(3):
        _append_hourly(db, [_draft(), _draft()], first=START + 2 * round_ * HOUR)
        create_checkpoint(db, signer)
        db.commit()
    return db


def test_checkpoints_page_goes_newest_first_by_id(three_checkpoints: Session) -> None:
    first, after = query.checkpoints_page(three_checkpoints, limit=2)
    rest, end = query.checkpoints_page(three_checkpoints, before_id=after, limit=2)

    assert [(cp.id, cp.tree_size) for cp in first] == [(2, 6), (1, 4)]
    assert after == 1
    assert [(cp.id, cp.tree_size) for cp in rest] == [(0, 2)]
    assert end is None


def test_checkpoints_page_that_ends_exactly_has_no_cursor(three_checkpoints: Session) -> None:
    found, after = query.checkpoints_page(three_checkpoints, limit=3)

    assert [cp.id for cp in found] == [2, 1, 0]
    assert after is None


def test_checkpoints_page_without_checkpoints_is_empty(db: Session) -> None:
    assert query.checkpoints_page(db) == ([], None)


@pytest.mark.parametrize("limit", [0, -3])
def test_checkpoints_page_refuses_a_limit_below_one(db: Session, limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        query.checkpoints_page(db, limit=limit)


def test_checkpoint_of_size_finds_the_one_that_signed_that_tree(
    three_checkpoints: Session,
) -> None:
    found = query.checkpoint_of_size(three_checkpoints, 4)

    assert found is not None
    assert (found.id, found.tree_size) == (1, 4)
    assert query.checkpoint_of_size(three_checkpoints, 5) is None
