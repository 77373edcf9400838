"""The charts page: four server-drawn SVG charts, their tables, the anomalies, the window.

Data is written relative to the real clock (the page's window ends today, in Shanghai),
audit entries first and in time order, then the consent decisions.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from audit.log import EntryDraft, append_many
from governance.db import utcnow
from governance.web import svg
from tests.web.helpers import decide, new_customer

SHANGHAI = ZoneInfo("Asia/Shanghai")
EN = {"Accept-Language": "en"}


class Tables(HTMLParser):
    """The text of every table cell, table by table and row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in {"td", "th"}:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None and self.tables:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table(page: str, *head: str) -> list[list[str]]:
    """The rows of the first table whose header row starts with ``head``."""
    found = Tables()
    found.feed(page)
    for rows in found.tables:
        if rows and rows[0][: len(head)] == list(head):
            return rows[1:]
    raise AssertionError(f"no table headed {head}")


def local_yesterday(hour: int, minute: int = 0) -> dt.datetime:
    """Yesterday (Shanghai) at ``hour``, in UTC: inside a 2-day window, always in the past."""
    day = utcnow().astimezone(SHANGHAI).date() - dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=SHANGHAI).astimezone(dt.UTC)


def entries(
    session: Session,
    moment: dt.datetime,
    n: int,
    actor: tuple[str, str],
    *,
    action: str = "profile.read",
    decision: str = "allow",
    reasons: tuple[str, ...] = (),
) -> None:
    draft = EntryDraft(
        action=action,
        actor_type=actor[0],
        actor_id=actor[1],
        decision=decision,
        purpose="marketing_push",
        reasons=reasons,
    )
    append_many(session, [draft] * n, now=moment)


@pytest.fixture
def arranged(app: Flask, make_operator: Any, within: Any, request: pytest.FixtureRequest) -> int:
    """Reads and denials of yesterday by an operator, then consent decisions; its id.

    The log never runs backwards, so yesterday's entries go first, before anything that
    audits at the real time (the catalog load, the operator's creation).
    """
    owl = ("operator", "1")  # the first operator of the fresh database, created below

    def work(session: Session) -> None:
        entries(session, local_yesterday(6, 30), 2, owl)  # before 08:00: outside hours
        entries(session, local_yesterday(9), 31, owl)  # 38 in all: above 3 x the minimum 10
        entries(
            session,
            local_yesterday(10),
            4,
            owl,
            decision="deny",
            reasons=("consent_invalid",),
        )
        entries(session, local_yesterday(11), 1, owl, decision="error", reasons=("engine_error",))
        session.commit()

    within(work)
    request.getfixturevalue("catalog")
    night_owl: int = make_operator("customer_service", username="op-night-owl")
    assert night_owl == 1

    def consent(session: Session) -> None:
        subject = new_customer(session)
        decide(session, subject, "marketing_push", now=local_yesterday(12))
        decide(session, subject, "marketing_push", "withdraw", now=local_yesterday(13))
        decide(session, subject, "marketing_push", now=local_yesterday(14))

    within(consent)
    return night_owl


def test_the_dpo_sees_four_charts_each_with_a_table_of_its_numbers(
    as_operator: Any, arranged: int
) -> None:
    resp = as_operator("dpo").get("/console/charts?days=2", headers=EN)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    charts = re.findall(r'<svg [^>]*role="img"[^>]*aria-labelledby="([a-z0-9-]+)-title', page)
    assert charts == ["consent-0", "decisions", "denials", "reads"]
    for chart in charts:
        assert f'<title id="{chart}-title">' in page and f'<desc id="{chart}-desc">' in page
    assert "<script" not in page and 'href="http' not in page  # nothing loaded from elsewhere
    assert "Asia/Shanghai" in page

    yesterday = (utcnow().astimezone(SHANGHAI).date() - dt.timedelta(days=1)).isoformat()
    today = utcnow().astimezone(SHANGHAI).date().isoformat()
    assert table(page, "Day", "Grants", "Withdrawals") == [[yesterday, "2", "1"], [today, "0", "0"]]
    (decisions,) = table(page, "Purpose")
    assert "marketing_push" in decisions[0] and decisions[1:] == ["33", "4", "1", "38"]
    assert table(page, "Reason") == [["consent_invalid", "you had not agreed, or withdrew", "4"]]

    owl = f"operator:{arranged} (op-night-owl)"
    flagged = table(page, "Actor")
    assert [row[:3] for row in flagged] == [[owl, yesterday, "38"], [owl, yesterday, "38"]]
    assert flagged[0][3] == "\u2013" and flagged[0][4].startswith("Hours")
    assert "2 reads outside the allowed hours, 08:00 to 20:00" in flagged[0][4]
    assert flagged[1][3] == "0" and flagged[1][4].startswith("Volume")
    assert "flagged from 30 reads" in flagged[1][4]


def test_the_reads_chart_table_has_one_column_per_actor(as_operator: Any, arranged: int) -> None:
    page = as_operator("dpo").get("/console/charts?days=2", headers=EN).get_data(as_text=True)
    day = utcnow().astimezone(SHANGHAI).date()
    rows = table(page, "Day", f"operator:{arranged} (op-night-owl)")
    assert rows == [[(day - dt.timedelta(days=1)).isoformat(), "38"], [day.isoformat(), "0"]]
    assert page.count('class="flag"') == 1  # one flagged point (both rules, same day)


def test_an_empty_window_still_renders_charts_and_says_so(as_operator: Any, catalog: Any) -> None:
    resp = as_operator("dpo").get("/console/charts", headers=EN)
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert 'value="30"' in page
    assert "No grants or withdrawals in this window." in page
    assert "Nothing flagged in this window." in page


@pytest.mark.parametrize("days", ["1", "366", " 7 "])
def test_days_from_1_to_366_are_accepted(as_operator: Any, days: str) -> None:
    resp = as_operator("dpo").get(f"/console/charts?days={days}", headers=EN)
    assert resp.status_code == 200
    assert f'value="{days.strip()}"' in resp.get_data(as_text=True)


def test_a_long_windows_tables_are_folded_and_a_short_ones_open(as_operator: Any) -> None:
    client = as_operator("dpo")
    short = client.get("/console/charts?days=8", headers=EN).get_data(as_text=True)
    long = client.get("/console/charts?days=9", headers=EN).get_data(as_text=True)
    # The reads table has a row a day; the decisions and denials tables are short.
    assert short.count('<details class="chart-data" open>') == 3
    assert long.count('<details class="chart-data" open>') == 2
    assert "(9 rows)</summary>" in long


@pytest.mark.parametrize(
    "query", ["days=0", "days=367", "days=-3", "days=abc", "days=3.5", "days=1e3", "days=1&days=2"]
)
def test_other_days_get_400_with_a_message(as_operator: Any, query: str) -> None:
    resp = as_operator("dpo").get(f"/console/charts?{query}", headers=EN)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert "must be a whole number of days from 1 to 366" in page
    assert 'role="img"' not in page


@pytest.mark.parametrize("role", ["analyst", "marketing", "customer_service", "admin"])
def test_other_roles_get_403(as_operator: Any, role: str) -> None:
    assert as_operator(role).get("/console/charts").status_code == 403


# -- the SVG charts themselves -----------------------------------------------------------------


def test_a_chart_is_a_labelled_image_with_every_text_escaped() -> None:
    chart = str(
        svg.stacked_bar_chart(
            "demo",
            "Reads <by> day",
            'Bars & "things"',
            ["<script>alert(1)</script>"],
            [svg.Series("Allowed", [3]), svg.Series("Refused", [1])],
        )
    )
    assert chart.startswith('<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="demo" ')
    assert 'role="img" aria-labelledby="demo-title demo-desc"' in chart
    assert '<title id="demo-title">Reads &lt;by&gt; day</title>' in chart
    assert "<script" not in chart and "&lt;script&gt;" in chart
    # Not colour alone: the second series is hatched and named in the legend.
    assert 'fill="url(#demo-p1)"' in chart and ">Refused</text>" in chart
    assert ">4</text>" in chart  # the bar's total, written at its end


def test_a_chart_id_must_be_a_plain_name() -> None:
    with pytest.raises(ValueError, match="chart id"):
        svg.bar_chart('x" onload="alert(1)', "t", "d", ["a"], [1])


@pytest.mark.parametrize(
    ("top", "axis"), [(0, 4), (1, 4), (4, 4), (5, 8), (83, 100), (101, 200), (1571, 2000)]
)
def test_the_axis_ends_at_four_whole_steps(top: int, axis: int) -> None:
    assert svg.nice_max(top) == axis


def test_axis_labels_are_spread_evenly_with_both_ends() -> None:
    assert svg.tick_positions(5) == [0, 1, 2, 3, 4]
    assert svg.tick_positions(30) == [0, 4, 8, 12, 17, 21, 25, 29]


def test_a_long_chinese_label_is_cut_by_its_width_not_its_length() -> None:
    from governance.web.svg import _short

    assert _short("analytics") == "analytics"
    latin = _short("personalised_recommendation_of_goods")
    assert len(latin) == 26 and latin.endswith("…")
    # Twelve Chinese characters take 24 columns: they fit; fourteen do not.
    assert _short("个性化推荐个性化推荐个性") == "个性化推荐个性化推荐个性"
    cut = _short("个性化推荐 (personalised_recommendation)")
    assert cut.endswith("…") and sum(2 if "\u4e00" <= c <= "\u9fff" else 1 for c in cut) <= 26
