"""Console page: charts of consent, decisions, denied reads and reads per actor.

``GET /console/charts?days=N`` (1-366, default 30) shows the ``N`` local days ending
today: four charts drawn on the server as inline SVG (:mod:`governance.web.svg`; no
script), each paired with a table of the same numbers, and the anomalies flagged in the
reads. The numbers come from :func:`governance.insights.overview`; this module only
validates the query and turns the numbers into figures with translated words. A ``days``
that is not a whole number from 1 to 366 gets the page back with 400 and a message.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, render_template, request
from flask_babel import gettext as _
from markupsafe import Markup
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate
from sqlalchemy import select

from consent.catalog.models import Purpose
from governance import insights
from governance.auth.permissions import Permission, requires
from governance.db import get_session, utcnow
from governance.i18n import localized
from governance.web import svg
from governance.web.labels import label

bp = Blueprint("console_charts", __name__, url_prefix="/console")

#: The window the page shows unless asked otherwise, and the longest one (a leap year).
DEFAULT_DAYS, MAX_DAYS = 30, 366
#: Reads per actor: the chart draws this many actors (the busiest); tables list them all.
CHART_ACTORS = 8


class ChartsQuery(Schema):
    """The page's one parameter: how many days, given at most once."""

    class Meta:
        """Other parameters (the language switch's) are not this page's concern."""

        unknown = EXCLUDE

    days = fields.Integer(
        load_default=DEFAULT_DAYS, strict=False, validate=validate.Range(min=1, max=MAX_DAYS)
    )

    @pre_load
    def _once(self, data: Any, **_kwargs: Any) -> dict[str, Any]:
        getlist = getattr(data, "getlist", None)
        values = getlist("days") if getlist is not None else [data.get("days")]
        values = [v for v in values if v is not None]
        if len(values) > 1:
            raise ValidationError("given more than once", "days")
        return {"days": values[0].strip()} if values and values[0].strip() else {}


@dataclass(frozen=True)
class Figure:
    """One chart and the table that holds its numbers."""

    chart: Markup
    caption: str
    head: list[str]
    rows: list[list[Any]]


def _purpose_name(purposes: dict[str, Purpose], purpose: str | None) -> str:
    if purpose is None:
        return _("(no purpose)")
    found = purposes.get(purpose)
    return f"{localized(found, 'name')} ({purpose})" if found is not None else purpose


def _actor_name(names: dict[tuple[str, str], str], actor_type: str, actor_id: str) -> str:
    name = names.get((actor_type, actor_id))
    return f"{actor_type}:{actor_id}" + (f" ({name})" if name else "")


def _consent_figures(data: insights.Overview, purposes: dict[str, Purpose]) -> list[Figure]:
    trend = data.consent
    weekly = bool(trend.buckets) and trend.buckets[0].first != trend.buckets[0].last
    unit = _("week (starting)") if weekly else _("day")
    out = []
    for n, (purpose, kinds) in enumerate(trend.counts.items()):
        name = _purpose_name(purposes, purpose)
        grants, withdrawals = kinds["grant"], kinds["withdraw"]
        title = _("Consent for %(purpose)s: grants and withdrawals", purpose=name)
        desc = _(
            "Line chart per %(unit)s: %(grants)s grants (solid line, circles) and "
            "%(withdrawals)s withdrawals (dashed line, squares) in the window.",
            unit=unit,
            grants=sum(grants),
            withdrawals=sum(withdrawals),
        )
        chart = svg.line_chart(
            f"consent-{n}",
            title,
            desc,
            [b.short_label for b in trend.buckets],
            [svg.Series(_("Grants"), grants), svg.Series(_("Withdrawals"), withdrawals)],
        )
        rows = [[b.label, g, w] for b, g, w in zip(trend.buckets, grants, withdrawals, strict=True)]
        head = [_("Week") if weekly else _("Day"), _("Grants"), _("Withdrawals")]
        out.append(Figure(chart, title, head, rows))
    return out


def _decisions_figure(data: insights.Overview, purposes: dict[str, Purpose]) -> Figure:
    names = [_purpose_name(purposes, d.purpose) for d in data.decisions]
    title = _("Decisions by purpose and outcome")
    desc = _(
        "Horizontal stacked bars, one per purpose: allowed (solid), refused (hatched) and "
        "failed (dotted); %(total)s decisions in all.",
        total=sum(d.total for d in data.decisions),
    )
    chart = svg.stacked_bar_chart(
        "decisions",
        title,
        desc,
        names,
        [
            svg.Series(label("decision", "allow"), [d.allow for d in data.decisions]),
            svg.Series(label("decision", "deny"), [d.deny for d in data.decisions]),
            svg.Series(label("decision", "error"), [d.error for d in data.decisions]),
        ],
    )
    rows = [
        [name, d.allow, d.deny, d.error, d.total]
        for name, d in zip(names, data.decisions, strict=True)
    ]
    head = [
        _("Purpose"),
        label("decision", "allow"),
        label("decision", "deny"),
        label("decision", "error"),
        _("Total"),
    ]
    return Figure(chart, title, head, rows)


def _denials_figure(data: insights.Overview) -> Figure:
    codes = [code or _("(no reason given)") for code, _n in data.denials]
    title = _("Denied reads by reason")
    desc = _(
        "Horizontal bars, one per reason code, each with its count; %(total)s denied reads. "
        "A read denied for several reasons counts under each.",
        total=sum(n for _code, n in data.denials),
    )
    chart = svg.bar_chart("denials", title, desc, codes, [n for _code, n in data.denials])
    rows = [
        [code, label("read_reason", raw) if raw else "", n]
        for code, (raw, n) in zip(codes, data.denials, strict=True)
    ]
    return Figure(chart, title, [_("Reason"), _("Meaning"), _("Denied reads")], rows)


def _reads_figure(data: insights.Overview) -> Figure:
    activity = data.reads
    shown = activity.actors[:CHART_ACTORS]
    names = [_actor_name(data.names, a.actor_type, a.actor_id) for a in shown]
    series = [
        svg.Series(name, [a.per_day.get(day, 0) for day in activity.days])
        for name, a in zip(names, shown, strict=True)
    ]
    position = {(a.actor_type, a.actor_id): i for i, a in enumerate(shown)}
    index = {day: i for i, day in enumerate(activity.days)}
    flagged = sorted(
        {
            (position[(x.actor_type, x.actor_id)], index[x.day])
            for x in activity.anomalies
            if (x.actor_type, x.actor_id) in position
        }
    )
    title = _("Reads per actor per day")
    desc = _(
        "Line chart of the %(shown)s busiest of %(actors)s actors, one line each (told apart "
        "by dash and marker, named in the legend); a ring and “!” mark a flagged day.",
        shown=len(shown),
        actors=len(activity.actors),
    )
    chart = svg.line_chart(
        "reads",
        title,
        desc,
        [day.strftime("%m-%d") for day in activity.days],
        series,
        flagged=flagged,
    )
    rows = [
        [day.isoformat(), *[s.values[i] for s in series]] for i, day in enumerate(activity.days)
    ]
    return Figure(chart, title, [_("Day"), *names], rows)


def _why(anomaly: insights.Anomaly, settings: insights.InsightSettings) -> str:
    if anomaly.rule == "volume":
        return _(
            "At least %(factor)s times the baseline: flagged from %(threshold)s reads "
            "(the baseline is never below %(minimum)s).",
            factor=f"{settings.factor:g}",
            threshold=f"{anomaly.threshold or 0:g}",
            minimum=f"{settings.min_baseline:g}",
        )
    return _(
        "%(count)s reads outside the allowed hours, %(start)s:00 to %(end)s:00.",
        count=anomaly.outside,
        start=f"{settings.hours_start:02d}",
        end=f"{settings.hours_end:02d}",
    )


def _offset(zone: Any, now: dt.datetime) -> str:
    text = now.astimezone(zone).strftime("%z")
    return f"UTC{text[:3]}:{text[3:]}"


@bp.get("/charts")
@requires(Permission.AUDIT_READ)
def charts() -> Any:
    """Consent, decisions, denied reads and reads per actor over the last ``days`` days."""
    try:
        days: int = ChartsQuery().load(request.args)["days"]
    except ValidationError:
        problem = _(
            "“days” must be a whole number of days from 1 to %(most)s, given once.",
            most=MAX_DAYS,
        )
        raw = request.args.get("days", "")
        return render_template(
            "console/charts.html", active="charts", problem=problem, days=raw[:12]
        ), 400
    session = get_session()
    now = utcnow()
    settings = insights.InsightSettings.from_config(current_app.config)
    data = insights.overview(session, days, settings, now)
    purposes = {p.id: p for p in session.scalars(select(Purpose))}
    return render_template(
        "console/charts.html",
        active="charts",
        problem=None,
        days=days,
        data=data,
        offset=_offset(settings.zone, now),
        consent=_consent_figures(data, purposes),
        decisions=_decisions_figure(data, purposes),
        denials=_denials_figure(data),
        reads=_reads_figure(data),
        anomalies=[
            (_actor_name(data.names, a.actor_type, a.actor_id), a, _why(a, settings))
            for a in data.reads.anomalies
        ],
    )
