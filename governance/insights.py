"""The numbers behind the DPO console's charts: consent, decisions, denials, reads, anomalies.

Every function takes the caller's session, reads only its time window and never commits.
The audit log can hold a billion entries, so nothing here scans it whole: each count turns
its window into a ``seq`` range first (:func:`audit.stats.window`) and groups inside the
database, so only the groups come back. The consent ledger has no time index either; its
event ids follow the audit lock's order, so a time range becomes an id range by binary
search over the primary key (:func:`event_id_range`), with :data:`CLOCK_SLACK` either side
for the clock read just before the lock, and the exact time filter is applied within.

**Days** are calendar days in the configured time zone (``GOVERNANCE_INSIGHTS_TIME_ZONE``,
China Standard Time by default). The database groups by UTC hour (by quarter-hour in a
zone whose offset is not whole hours) and each group is placed in its local day and hour
here, so days and allowed hours are right in any zone, summer time included, and the rows
returned grow with actors x hours, never with entries. A window of ``days`` days ends with
today; longer than :data:`WEEKLY_AFTER_DAYS` days, the consent trend is shown per week.

**Reads** are guarded reads of one subject (``profile.read`` entries: allowed, denied and
failed alike; every attempt is a read). Cohort exports are not reads here: an export is
one entry for many customers, and customers it skips are not denied reads. A customer
reading their own data (actor type ``subject``) is not an anomaly and is left out.

**Anomalies** (:func:`read_activity`):

- *volume*: an actor's reads on a day reach ``factor`` x its baseline, the median of its
  reads on the ``baseline_days`` days before (a day without reads counts as 0), and never
  less than ``min_baseline`` (so a new or quiet actor is not flagged for a handful);
- *hours*: an operator read outside the allowed hours (``hours_start`` <= local hour <
  ``hours_end``; an end below the start runs past midnight), as the policies judge an
  operator's hours.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from audit import stats
from audit.log import format_time
from audit.query import boundary
from consent.models import EVENTS
from governance.auth.models import ApiKey, Operator
from governance.profiles.guarded import EXPORT_ACTION
from policies.inputs import DECIDE_ACTION, READ_ACTION

__all__ = [
    "CLOCK_SLACK",
    "CONSENT_KINDS",
    "DECISION_ACTIONS",
    "READ_ACTIONS",
    "WEEKLY_AFTER_DAYS",
    "ActorReads",
    "Anomaly",
    "Bucket",
    "ConsentTrend",
    "InsightSettings",
    "Overview",
    "PurposeDecisions",
    "ReadActivity",
    "Window",
    "actor_names",
    "baseline",
    "consent_trend",
    "decisions_by_purpose",
    "denied_reads_by_reason",
    "event_id_range",
    "make_window",
    "overview",
    "read_activity",
    "unusual_volume",
]

#: The audit actions counted as reads (chart of denied reads, reads per actor).
READ_ACTIONS = (READ_ACTION,)
#: The audit actions counted as decisions: policy decisions asked through the API, guarded
#: reads and the start of cohort exports.
DECISION_ACTIONS = (DECIDE_ACTION, READ_ACTION, EXPORT_ACTION)
#: The consent events the trend counts.
CONSENT_KINDS = ("grant", "withdraw")
#: A window longer than this many days shows the consent trend per week.
WEEKLY_AFTER_DAYS = 62
#: How far a consent event's time may run behind the order of ids (the clock is read
#: before the audit lock is taken).
CLOCK_SLACK = dt.timedelta(hours=1)
#: Actor types left out of reads per actor: customers reading their own data.
OWN_DATA_ACTORS = ("subject",)
_DECISIONS = ("allow", "deny", "error")


@dataclass(frozen=True)
class InsightSettings:
    """The time zone, allowed hours and anomaly rule the charts use."""

    zone: ZoneInfo
    hours_start: int = 8
    hours_end: int = 20
    factor: float = 3.0
    baseline_days: int = 14
    min_baseline: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> InsightSettings:
        """From the app's configuration (``GOVERNANCE_INSIGHTS_*``)."""
        return cls(
            zone=ZoneInfo(config["INSIGHTS_TIME_ZONE"]),
            hours_start=int(config["INSIGHTS_ALLOWED_HOURS_START"]),
            hours_end=int(config["INSIGHTS_ALLOWED_HOURS_END"]),
            factor=float(config["INSIGHTS_ANOMALY_FACTOR"]),
            baseline_days=int(config["INSIGHTS_BASELINE_DAYS"]),
            min_baseline=float(config["INSIGHTS_MIN_BASELINE"]),
        )

    def allowed_hour(self, hour: int) -> bool:
        """True if a read in this local hour (0-23) is within the allowed hours."""
        if self.hours_start < self.hours_end:
            return self.hours_start <= hour < self.hours_end
        return hour >= self.hours_start or hour < self.hours_end


@dataclass(frozen=True)
class Bucket:
    """Local days ``first`` to ``last`` (inclusive): one day, or a week."""

    first: dt.date
    last: dt.date

    @property
    def label(self) -> str:
        """``2026-11-20``, or ``2026-11-20/2026-11-26`` for several days (ISO 8601)."""
        if self.first == self.last:
            return self.first.isoformat()
        return f"{self.first.isoformat()}/{self.last.isoformat()}"

    @property
    def short_label(self) -> str:
        """``11-20`` (the first day), for a chart's axis."""
        return self.first.strftime("%m-%d")


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The UTC moment at which ``day`` starts in ``zone``."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


@dataclass(frozen=True)
class Window:
    """The local days ``first_day`` to ``last_day`` (inclusive) in ``zone``."""

    first_day: dt.date
    last_day: dt.date
    zone: ZoneInfo

    @property
    def start(self) -> dt.datetime:
        """When the first day starts (UTC)."""
        return local_midnight(self.first_day, self.zone)

    @property
    def end(self) -> dt.datetime:
        """When the last day ends (UTC, exclusive)."""
        return local_midnight(self.last_day + dt.timedelta(days=1), self.zone)

    @property
    def length(self) -> int:
        """How many days the window holds."""
        return (self.last_day - self.first_day).days + 1

    def days(self) -> list[dt.date]:
        """Every local day of the window, in order."""
        return [self.first_day + dt.timedelta(days=i) for i in range(self.length)]

    def buckets(self) -> list[Bucket]:
        """Days, or weeks from the first day when the window is long (the last may be short)."""
        size = 7 if self.length > WEEKLY_AFTER_DAYS else 1
        out = []
        for i in range(0, self.length, size):
            first = self.first_day + dt.timedelta(days=i)
            out.append(Bucket(first, min(first + dt.timedelta(days=size - 1), self.last_day)))
        return out


def make_window(days: int, now: dt.datetime, zone: ZoneInfo) -> Window:
    """The ``days`` local days ending with today (``now``'s day in ``zone``)."""
    if days < 1:
        raise ValueError("a window holds at least one day")
    today = now.astimezone(zone).date()
    return Window(today - dt.timedelta(days=days - 1), today, zone)


def _whole_hours(zone: ZoneInfo, start: dt.datetime, end: dt.datetime) -> bool:
    """True if ``zone``'s offset is whole hours from ``start`` to ``end``."""
    moment = start
    while True:
        offset = moment.astimezone(zone).utcoffset() or dt.timedelta(0)
        if offset % dt.timedelta(hours=1):
            return False
        if moment >= end:
            return True
        moment = min(moment + dt.timedelta(hours=6), end)


def _quarter(minute: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((minute < "15", 0), (minute < "30", 15), (minute < "45", 30), else_=45)


# -- consent: grants and withdrawals per purpose ----------------------------------------------


@dataclass(frozen=True)
class ConsentTrend:
    """Grants and withdrawals per purpose and bucket (``counts[purpose][kind][i]``)."""

    buckets: list[Bucket]
    counts: dict[str, dict[str, list[int]]]

    def total(self, purpose: str, kind: str) -> int:
        """A purpose's events of ``kind`` over the window."""
        return sum(self.counts.get(purpose, {}).get(kind, []))


def event_id_range(session: Session, start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
    """Consent event ids ``[lo, hi)`` that hold every event of ``[start, end)``.

    Binary search over the primary key (O(log n) single-row seeks), widened by
    :data:`CLOCK_SLACK`; the caller still filters on ``occurred_at``.
    """
    t = EVENTS
    top = session.scalar(select(func.max(t.c.id)))
    if top is None:
        return 0, 0
    size = int(top) + 1

    def probe(position: int) -> tuple[int, str] | None:
        row = session.execute(
            select(t.c.id, t.c.occurred_at).where(t.c.id >= position).order_by(t.c.id).limit(1)
        ).first()
        return None if row is None else (int(row[0]), format_time(row[1]))

    lo = boundary(probe, format_time(start - CLOCK_SLACK), size)
    hi = boundary(probe, format_time(end + CLOCK_SLACK), size)
    return lo, hi


def _event_hour(session: Session) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(UTC hour as ``YYYY-MM-DDTHH``, minute as ``MM``) of an event, per database."""
    column = EVENTS.c.occurred_at
    if session.get_bind().dialect.name == "postgresql":
        utc = func.timezone("UTC", column)
        return func.to_char(utc, 'YYYY-MM-DD"T"HH24'), func.to_char(utc, "MI")
    return func.strftime("%Y-%m-%dT%H", column), func.strftime("%M", column)


def consent_trend(session: Session, window: Window) -> ConsentTrend:
    """Grants and withdrawals per purpose in each bucket of ``window``, from the ledger."""
    t = EVENTS
    buckets = window.buckets()
    lo, hi = event_id_range(session, window.start, window.end)
    hour, minute = _event_hour(session)
    quarters = not _whole_hours(window.zone, window.start, window.end)
    groups: list[ColumnElement[Any]] = [t.c.purpose, t.c.kind, hour]
    if quarters:
        groups.append(_quarter(minute))
    statement = (
        select(*groups, func.count())
        .where(
            t.c.id >= lo,
            t.c.id < hi,
            t.c.kind.in_(CONSENT_KINDS),
            t.c.occurred_at >= window.start,
            t.c.occurred_at < window.end,
        )
        .group_by(*groups)
    )
    index = {}
    for i, bucket in enumerate(buckets):
        for n in range((bucket.last - bucket.first).days + 1):
            index[bucket.first + dt.timedelta(days=n)] = i
    counts: dict[str, dict[str, list[int]]] = {}
    for row in session.execute(statement):
        start = dt.datetime.strptime(row[2], "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)
        if quarters:
            start += dt.timedelta(minutes=int(row[3]))
        day = start.astimezone(window.zone).date()
        if day not in index:  # the time filter above keeps this from happening
            continue
        per_kind = counts.setdefault(str(row[0]), {k: [0] * len(buckets) for k in CONSENT_KINDS})
        per_kind[str(row[1])][index[day]] += int(row[-1])
    return ConsentTrend(buckets, dict(sorted(counts.items())))


# -- decisions and denials ---------------------------------------------------------------------


@dataclass(frozen=True)
class PurposeDecisions:
    """Decisions for one purpose (None: entries that name none) by outcome."""

    purpose: str | None
    allow: int = 0
    deny: int = 0
    error: int = 0

    @property
    def total(self) -> int:
        """All outcomes together."""
        return self.allow + self.deny + self.error


def decisions_by_purpose(session: Session, window: Window) -> list[PurposeDecisions]:
    """Allowed, denied and failed decisions (:data:`DECISION_ACTIONS`) per purpose."""
    found: dict[str | None, dict[str, int]] = {}
    rows = stats.decisions_by_purpose(
        session, format_time(window.start), format_time(window.end), DECISION_ACTIONS
    )
    for purpose, decision, n in rows:
        found.setdefault(purpose, dict.fromkeys(_DECISIONS, 0))[decision] = n
    return [PurposeDecisions(p, **counts) for p, counts in found.items()]


def denied_reads_by_reason(session: Session, window: Window) -> list[tuple[str, int]]:
    """Denied reads per reason code, most frequent first ("" for a denial without one)."""
    return stats.denials_by_reason(
        session, format_time(window.start), format_time(window.end), READ_ACTIONS
    )


# -- reads per actor, and anomalies ----------------------------------------------------------


def baseline(history: Sequence[int]) -> float:
    """An actor's usual reads a day: the median of ``history`` (0 for none)."""
    return float(statistics.median(history)) if history else 0.0


def unusual_volume(reads: int, usual: float, settings: InsightSettings) -> bool:
    """The volume rule: ``reads`` reach factor x the baseline (never below the minimum)."""
    return reads > 0 and reads >= settings.factor * max(usual, settings.min_baseline)


@dataclass
class ActorReads:
    """One actor's reads per local day, and how many of them fell outside allowed hours."""

    actor_type: str
    actor_id: str
    per_day: dict[dt.date, int] = field(default_factory=dict)
    outside: dict[dt.date, int] = field(default_factory=dict)
    total: int = 0  # in the window (not the baseline days before it)


@dataclass(frozen=True)
class Anomaly:
    """A flagged actor day: ``rule`` is ``volume`` or ``hours``."""

    actor_type: str
    actor_id: str
    day: dt.date
    reads: int  # the day's reads
    rule: str
    baseline: float | None = None  # volume: the median of the previous days
    threshold: float | None = None  # volume: the count that is flagged
    outside: int = 0  # hours: reads outside the allowed hours


@dataclass(frozen=True)
class ReadActivity:
    """Reads per actor per day over a window, busiest actors first, and the anomalies."""

    days: list[dt.date]
    actors: list[ActorReads]
    anomalies: list[Anomaly]


def read_activity(session: Session, window: Window, settings: InsightSettings) -> ReadActivity:
    """Reads per actor and local day in ``window``, flagged by the two anomaly rules.

    The baseline needs the ``baseline_days`` days before the window, so the audit window
    read starts that much earlier; those days are counted but not shown.
    """
    zone = window.zone
    first = window.first_day - dt.timedelta(days=settings.baseline_days)
    since = local_midnight(first, zone)
    slots = stats.entries_by_actor_and_hour(
        session,
        format_time(since),
        format_time(window.end),
        READ_ACTIONS,
        skip_actor_types=OWN_DATA_ACTORS,
        quarters=not _whole_hours(zone, since, window.end),
    )
    actors: dict[tuple[str, str], ActorReads] = {}
    for slot in slots:
        local = slot.start.astimezone(zone)
        day = local.date()
        reads = actors.setdefault(
            (slot.actor_type, slot.actor_id), ActorReads(slot.actor_type, slot.actor_id)
        )
        reads.per_day[day] = reads.per_day.get(day, 0) + slot.count
        if day >= window.first_day:
            reads.total += slot.count
            if slot.actor_type == "operator" and not settings.allowed_hour(local.hour):
                reads.outside[day] = reads.outside.get(day, 0) + slot.count
    days = window.days()
    anomalies: list[Anomaly] = []
    for reads in actors.values():
        for day in days:
            count = reads.per_day.get(day, 0)
            history = [
                reads.per_day.get(day - dt.timedelta(days=n), 0)
                for n in range(1, settings.baseline_days + 1)
            ]
            usual = baseline(history)
            if unusual_volume(count, usual, settings):
                threshold = settings.factor * max(usual, settings.min_baseline)
                anomalies.append(
                    Anomaly(
                        reads.actor_type, reads.actor_id, day, count, "volume", usual, threshold
                    )
                )
            if reads.outside.get(day):
                anomalies.append(
                    Anomaly(
                        reads.actor_type,
                        reads.actor_id,
                        day,
                        count,
                        "hours",
                        outside=reads.outside[day],
                    )
                )
    shown = sorted(
        (r for r in actors.values() if r.total),
        key=lambda r: (-r.total, r.actor_type, r.actor_id),
    )
    anomalies.sort(key=lambda a: (-a.day.toordinal(), a.actor_type, a.actor_id, a.rule))
    return ReadActivity(days, shown, anomalies)


def actor_names(session: Session, actors: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Operators' usernames and service keys' names, for the actors that have one."""
    operator_ids = {int(i) for t, i in actors if t == "operator" and i.isdigit()}
    key_ids = {i for t, i in actors if t == "service"}
    out: dict[tuple[str, str], str] = {}
    if operator_ids:
        rows = session.execute(
            select(Operator.id, Operator.username).where(Operator.id.in_(operator_ids))
        )
        out.update({("operator", str(i)): str(name) for i, name in rows})
    if key_ids:
        rows = session.execute(select(ApiKey.id, ApiKey.name).where(ApiKey.id.in_(key_ids)))
        out.update({("service", str(i)): str(name) for i, name in rows})
    return out


# -- the page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overview:
    """Everything the charts page shows for one window."""

    window: Window
    settings: InsightSettings
    consent: ConsentTrend
    decisions: list[PurposeDecisions]
    denials: list[tuple[str, int]]
    reads: ReadActivity
    names: dict[tuple[str, str], str]


def overview(session: Session, days: int, settings: InsightSettings, now: dt.datetime) -> Overview:
    """The four charts' numbers for the ``days`` days ending with ``now``'s local day."""
    window = make_window(days, now, settings.zone)
    reads = read_activity(session, window, settings)
    named = {(r.actor_type, r.actor_id) for r in reads.actors}
    return Overview(
        window=window,
        settings=settings,
        consent=consent_trend(session, window),
        decisions=decisions_by_purpose(session, window),
        denials=denied_reads_by_reason(session, window),
        reads=reads,
        names=actor_names(session, sorted(named)),
    )
