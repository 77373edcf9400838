"""The charts' numbers: consent per local day or week, decisions, denials, reads, anomalies.

Data is built by hand through the platform's own writers (the audit appender, the consent
ledger), in time order: the log never runs backwards, so every audit entry of a test is
appended before the consent decisions (whose entries carry the real clock).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from audit.log import EntryDraft, append_many
from governance import insights
from governance.db import get_session
from governance.insights import InsightSettings
from tests.web.helpers import decide, new_customer

SHANGHAI = ZoneInfo("Asia/Shanghai")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30: local hours start at :30 UTC
#: 2026-11-21 01:30 in Shanghai: "today" there is the 21st, while UTC still says the 20th.
NOW = dt.datetime(2026, 11, 20, 17, 30, tzinfo=dt.UTC)
SETTINGS = InsightSettings(zone=SHANGHAI)


def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = SHANGHAI) -> dt.datetime:
    """A local moment in November 2026, in UTC."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=zone).astimezone(dt.UTC)


def reads(
    session: Session,
    moment: dt.datetime,
    n: int = 1,
    *,
    actor: tuple[str, str] = ("operator", "7"),
    action: str = "profile.read",
    decision: str = "allow",
    reasons: Sequence[str] = (),
    purpose: str | None = "marketing_push",
) -> None:
    """Append ``n`` entries at ``moment`` (callers go forward in time)."""
    draft = EntryDraft(
        action=action,
        actor_type=actor[0],
        actor_id=actor[1],
        decision=decision,
        purpose=purpose,
        reasons=tuple(reasons),
    )
    append_many(session, [draft] * n, now=moment)


# -- windows and buckets ---------------------------------------------------------------------


def test_a_window_is_local_days_ending_with_the_local_today() -> None:
    window = insights.make_window(3, NOW, SHANGHAI)
    assert (window.first_day, window.last_day) == (dt.date(2026, 11, 19), dt.date(2026, 11, 21))
    assert window.start == dt.datetime(2026, 11, 18, 16, tzinfo=dt.UTC)
    assert window.end == dt.datetime(2026, 11, 21, 16, tzinfo=dt.UTC)
    assert insights.make_window(1, NOW, dt.UTC).days() == [dt.date(2026, 11, 20)]


@pytest.mark.parametrize(
    ("days", "buckets", "last"),
    [
        (62, 62, (dt.date(2026, 11, 21), dt.date(2026, 11, 21))),
        (63, 9, (dt.date(2026, 11, 15), dt.date(2026, 11, 21))),
        (64, 10, (dt.date(2026, 11, 21), dt.date(2026, 11, 21))),
    ],
)
def test_buckets_are_days_up_to_62_days_then_weeks_from_the_first_day(
    days: int, buckets: int, last: tuple[dt.date, dt.date]
) -> None:
    found = insights.make_window(days, NOW, SHANGHAI).buckets()
    assert len(found) == buckets
    assert (found[-1].first, found[-1].last) == last


# -- consent ---------------------------------------------------------------------------------


def test_consent_trend_counts_grants_and_withdrawals_per_local_day(
    app: Flask, catalog: Any
) -> None:
    with app.app_context():
        session = get_session()
        a, b = new_customer(session), new_customer(session, mobile="13800000018")
        decide(session, a, "marketing_push", now=at(18, 23, 59))  # the day before the window
        decide(session, b, "marketing_push", now=at(19, 0, 0))  # first moment of the window
        decide(session, a, "marketing_push", "withdraw", now=at(19, 23, 59))
        decide(session, a, "marketing_push", now=at(20, 0, 0))
        decide(session, b, "analytics", tier="behaviour", now=at(21, 9, 0))
        decide(session, b, "marketing_push", "withdraw", now=at(21, 23, 59))
        decide(session, b, "marketing_push", now=at(22, 0, 0))  # after the window
    with app.app_context():
        trend = insights.consent_trend(get_session(), insights.make_window(3, NOW, SHANGHAI))
    assert [b.label for b in trend.buckets] == ["2026-11-19", "2026-11-20", "2026-11-21"]
    assert trend.counts == {
        "analytics": {"grant": [0, 0, 1], "withdraw": [0, 0, 0]},
        "marketing_push": {"grant": [1, 1, 0], "withdraw": [1, 0, 1]},
    }


def test_an_event_written_late_with_an_earlier_clock_is_still_counted(
    app: Flask, catalog: Any
) -> None:
    # The clock is read before the audit lock: ids may run a little ahead of the times.
    with app.app_context():
        session = get_session()
        a, b = new_customer(session), new_customer(session, mobile="13800000018")
        decide(session, a, "marketing_push", now=at(22, 0, 5))  # after the window
        decide(session, b, "marketing_push", now=at(21, 23, 50))  # inside, with a later id
    with app.app_context():
        session = get_session()
        window = insights.make_window(3, NOW, SHANGHAI)
        lo, hi = insights.event_id_range(session, window.start, window.end)
        trend = insights.consent_trend(session, window)
    assert (lo, hi) == (0, 3)  # ids 1 and 2, within the slack either side
    assert trend.counts["marketing_push"]["grant"] == [0, 0, 1]


def test_consent_trend_is_weekly_in_a_long_window(app: Flask, catalog: Any) -> None:
    window = insights.make_window(70, NOW, SHANGHAI)  # from 2026-09-13, ten weeks
    assert window.first_day == dt.date(2026, 9, 13)
    with app.app_context():
        session = get_session()
        a = new_customer(session)
        decide(session, a, "marketing_push", now=at(13, 9).replace(month=9))  # week 0
        decide(session, a, "marketing_push", "withdraw", now=at(19, 23, 59).replace(month=9))
        decide(session, a, "marketing_push", now=at(20, 0).replace(month=9))  # week 1
    with app.app_context():
        trend = insights.consent_trend(get_session(), window)
    assert len(trend.buckets) == 10
    assert trend.buckets[1].label == "2026-09-20/2026-09-26"
    assert trend.counts["marketing_push"]["grant"][:3] == [1, 1, 0]
    assert trend.counts["marketing_push"]["withdraw"][:3] == [1, 0, 0]
    assert trend.total("marketing_push", "grant") == 2


# -- decisions and denials -----------------------------------------------------------------


def test_decisions_are_grouped_by_purpose_and_outcome_inside_the_window(app: Flask) -> None:
    window = insights.make_window(3, NOW, SHANGHAI)
    with app.app_context():
        session = get_session()
        reads(session, at(18, 12), decision="deny")  # before the window
        reads(session, at(19, 9), 3)
        reads(session, at(19, 10), 2, decision="deny", reasons=["consent_invalid"])
        reads(session, at(20, 9), decision="error", reasons=["engine_error"])
        reads(session, at(20, 10), 4, action="policy.decide", purpose="analytics")
        reads(session, at(20, 11), action="profile.export", purpose="analytics")
        reads(session, at(20, 12), action="consent.grant")  # not a decision
        reads(session, at(21, 9), action="policy.decide", purpose=None, decision="deny")
        reads(session, at(22, 0), 5)  # after the window
        session.commit()
        found = insights.decisions_by_purpose(session, window)
    assert [(d.purpose, d.allow, d.deny, d.error, d.total) for d in found] == [
        ("analytics", 5, 0, 0, 5),
        ("marketing_push", 3, 2, 1, 6),
        (None, 0, 1, 0, 1),
    ]


def test_denied_reads_are_counted_per_reason_and_only_reads(app: Flask) -> None:
    window = insights.make_window(3, NOW, SHANGHAI)
    with app.app_context():
        session = get_session()
        reads(session, at(18, 23, 59), decision="deny", reasons=["consent_invalid"])  # before
        reads(session, at(19, 0), 2, decision="deny", reasons=["consent_invalid"])
        reads(session, at(19, 1), decision="deny", reasons=["consent_invalid", "tier_not_covered"])
        reads(session, at(20, 1), decision="deny", reasons=["outside_allowed_hours"])
        reads(session, at(20, 2), decision="allow", reasons=["tier_not_covered"])  # allowed
        reads(session, at(20, 3), action="policy.decide", decision="deny", reasons=["x_reason"])
        reads(session, at(21, 4), decision="error", reasons=["engine_error"])  # not a denial
        session.commit()
        found = insights.denied_reads_by_reason(session, window)
    assert found == [("consent_invalid", 3), ("outside_allowed_hours", 1), ("tier_not_covered", 1)]


# -- the volume rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "usual", "flagged"),
    [
        (60, 20.0, True),  # exactly factor x the baseline
        (59, 20.0, False),  # just under
        (3, 0.0, False),  # a first day: the minimum baseline (10) applies
        (29, 0.0, False),
        (30, 0.0, True),  # factor x the minimum
        (30, 5.0, True),  # a baseline below the minimum is raised to it
        (0, 0.0, False),
    ],
)
def test_the_volume_rule_flags_factor_times_the_baseline_never_below_the_minimum(
    count: int, usual: float, flagged: bool
) -> None:
    assert insights.unusual_volume(count, usual, SETTINGS) is flagged


def test_the_baseline_is_the_median_of_previous_days_with_quiet_days_as_zero() -> None:
    assert insights.baseline([20, 20, 500, 20]) == 20
    assert insights.baseline([0] * 7 + [40] * 7) == 20
    assert insights.baseline([]) == 0


def test_read_activity_flags_a_day_at_factor_times_its_own_baseline(app: Flask) -> None:
    window = insights.make_window(2, NOW, SHANGHAI)  # the 20th and the 21st
    busy, steady, newcomer = ("operator", "1"), ("service", "key_a"), ("operator", "3")
    with app.app_context():
        session = get_session()
        for day in range(6, 20):  # the fourteen days before the 20th: 20 reads a day
            reads(session, at(day, 10), 20, actor=busy)
            reads(session, at(day, 11), 20, actor=steady)
        reads(session, at(20, 10), 60, actor=busy)  # 3 x 20: flagged
        reads(session, at(20, 11), 59, actor=steady)  # just under: not flagged
        reads(session, at(20, 12), 3, actor=newcomer)  # first day, few reads: not flagged
        reads(session, at(21, 9), 29, actor=newcomer)  # baseline 0, minimum 10: 29 < 30
        reads(session, at(21, 10), 2, actor=("subject", "sub_" + "a" * 22))  # own data: out
        session.commit()
        found = insights.read_activity(session, window, SETTINGS)
    assert [(a.actor_type, a.actor_id, a.total) for a in found.actors] == [
        ("operator", "1", 60),
        ("service", "key_a", 59),
        ("operator", "3", 32),
    ]
    assert found.actors[0].per_day[dt.date(2026, 11, 19)] == 20  # baseline days are read
    assert [
        (a.actor_id, a.day, a.reads, a.rule, a.baseline, a.threshold) for a in found.anomalies
    ] == [("1", dt.date(2026, 11, 20), 60, "volume", 20.0, 60.0)]


def test_a_newcomer_is_flagged_only_above_factor_times_the_minimum(app: Flask) -> None:
    window = insights.make_window(1, NOW, SHANGHAI)
    with app.app_context():
        session = get_session()
        reads(session, at(21, 9), 30, actor=("partner", "bank"))
        session.commit()
        found = insights.read_activity(session, window, SETTINGS)
    assert [(a.actor_id, a.reads, a.baseline, a.threshold) for a in found.anomalies] == [
        ("bank", 30, 0.0, 30.0)
    ]


# -- the hours rule ---------------------------------------------------------------------------


def test_operator_reads_outside_allowed_hours_are_flagged_in_the_configured_zone(
    app: Flask,
) -> None:
    window = insights.make_window(2, NOW, SHANGHAI)
    with app.app_context():
        session = get_session()
        reads(session, at(20, 7, 59))  # outside: before 08:00
        reads(session, at(20, 8, 0), 5)  # inside: the first allowed minute
        reads(session, at(20, 19, 59))  # inside: the last allowed minute
        reads(session, at(20, 20, 0), 2)  # outside: 20:00 is the end
        reads(session, at(21, 3), 4, actor=("service", "key_a"))  # a service: hours do not apply
        reads(session, at(21, 12))  # inside
        session.commit()
        found = insights.read_activity(session, window, SETTINGS)
    assert [(a.actor_id, a.day, a.reads, a.rule, a.outside) for a in found.anomalies] == [
        ("7", dt.date(2026, 11, 20), 9, "hours", 3)
    ]


def test_local_hours_follow_a_zone_whose_offset_is_not_whole_hours(app: Flask) -> None:
    settings = InsightSettings(zone=KOLKATA)
    window = insights.make_window(1, NOW, KOLKATA)  # 2026-11-20 in Kolkata (23:00 there)
    with app.app_context():
        session = get_session()
        reads(session, at(20, 7, 59, KOLKATA))  # 02:29 UTC: outside
        reads(session, at(20, 8, 0, KOLKATA), 2)  # 02:30 UTC: inside
        reads(session, at(20, 19, 44, KOLKATA))  # 14:14 UTC: inside
        reads(session, at(20, 20, 15, KOLKATA), 3)  # 14:45 UTC: outside
        session.commit()
        found = insights.read_activity(session, window, settings)
    assert found.actors[0].per_day == {dt.date(2026, 11, 20): 7}
    assert [(a.day, a.outside) for a in found.anomalies] == [(dt.date(2026, 11, 20), 4)]


def test_allowed_hours_may_run_past_midnight() -> None:
    night = InsightSettings(zone=SHANGHAI, hours_start=22, hours_end=6)
    assert [h for h in range(24) if night.allowed_hour(h)] == [0, 1, 2, 3, 4, 5, 22, 23]
    assert [h for h in range(24) if not SETTINGS.allowed_hour(h)] == [
        0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23
    ]  # fmt: skip


def test_actor_names_are_usernames_and_key_names(app: Flask, make_operator: Any) -> None:
    op = make_operator("dpo", username="op-chen")
    with app.app_context():
        names = insights.actor_names(
            get_session(), [("operator", str(op)), ("operator", "999"), ("partner", "bank")]
        )
    assert names == {("operator", str(op)): "op-chen"}
