"""Counts over the audit log: denials by reason in a time window."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy.orm import Session

from audit.log import EntryDraft, append_many, format_time
from audit.stats import denials_by_reason
from governance.db import get_session

T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)


def _entry(session: Session, moment: dt.datetime, decision: str, reasons: list[str]) -> None:
    draft = EntryDraft(
        action="profile.read",
        actor_type="operator",
        actor_id="7",
        decision=decision,
        reasons=tuple(reasons),
    )
    append_many(session, [draft], now=moment)


def test_denials_are_counted_per_reason_inside_the_window_only(app: Flask) -> None:
    with app.app_context():
        session = get_session()
        _entry(session, T0 - dt.timedelta(days=1), "deny", ["consent_missing"])  # before
        _entry(session, T0, "deny", ["consent_missing", "tier_too_low"])
        _entry(session, T0 + dt.timedelta(hours=1), "deny", ["consent_missing"])
        _entry(session, T0 + dt.timedelta(hours=2), "allow", ["consent_missing"])  # not a denial
        _entry(session, T0 + dt.timedelta(hours=3), "deny", [])
        _entry(session, T0 + dt.timedelta(days=2), "deny", ["tier_too_low"])  # after
        session.commit()
        found = denials_by_reason(session, format_time(T0), format_time(T0 + dt.timedelta(days=1)))
    assert found == [("consent_missing", 2), ("", 1), ("tier_too_low", 1)]
