"""The DPO console's audit pages: explorer, entry with proof, export, verification.

The log here is fictional: reserved subject ids, invented service names, times in 2030
(UTC) so that they sort after the entries the sign-in itself writes. Data is arranged in
short app contexts (``within``), never held across requests.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pyotp
import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

import audit
from audit import ddl
from audit.checkpoint import b64
from audit.log import (
    EntryDraft,
    append_many,
    create_checkpoint,
    forget_head,
    format_time,
    latest_checkpoint,
)
from audit.models import ENTRIES, AuditVerification
from audit.verifications import record_report
from audit.verify import Report
from audit.views import CSV_COLUMNS
from governance.db import get_engine
from governance.web import console_audit
from tests.web.conftest import csrf_of, parse

EN = {"Accept-Language": "en"}
SUB_A = "sub_" + "A" * 21 + "a"
SUB_B = "sub_" + "B" * 21 + "b"
BASE = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"

#: (hour after BASE, actor type, actor id, subject, purpose, action, decision)
LOG = (
    (1, "service", "svc-push", SUB_A, "marketing_push", "profile.read", "allow"),
    (2, "operator", "7", SUB_B, "customer_service", "profile.read", "deny"),
    (3, "service", "svc-push", SUB_B, "marketing_push", "profile.read", "allow"),
    (4, "system", "cli", None, None, "catalog.load", "allow"),
    (5, "service", "svc-bi", SUB_A, "analytics", "profile.read", "error"),
    (6, "operator", "7", SUB_A, "marketing_push", "consent.grant", "allow"),
)


def at(hour: float) -> dt.datetime:
    """A moment of the fictional log."""
    return BASE + dt.timedelta(hours=hour)


def local(hour: float) -> str:
    """The moment as a datetime-local input writes it (UTC on these pages)."""
    return at(hour).strftime("%Y-%m-%dT%H:%M")


def append(session: Session, *drafts: EntryDraft, hour: float) -> list[int]:
    """Append and commit ``drafts`` at ``hour``; returns their seqs."""
    done = append_many(session, list(drafts), now=at(hour))
    session.commit()
    return [a.seq for a in done]


def all_rows(session: Session) -> list[dict[str, Any]]:
    """Every entry, newest first."""
    rows = session.execute(select(ENTRIES).order_by(ENTRIES.c.seq.desc())).mappings()
    return [dict(r) for r in rows]


def log_size(session: Session) -> int:
    """How many entries the log holds."""
    return int(session.scalar(select(func.count()).select_from(ENTRIES)) or 0)


def seqs_on(page: str) -> list[int]:
    """The entry numbers a page of the explorer lists, in order."""
    return [int(s) for s in re.findall(r'<tr id="entry-(\d+)"', page)]


def older_link(page: str) -> str | None:
    """The "older entries" link of a page, if any."""
    found = re.search(r'rel="next" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def tamper(app: Flask, statement: str, **params: Any) -> None:
    """What an attacker with the database owner's rights does: drop the guards, change."""
    engine = get_engine(app)
    with engine.begin() as conn:
        for table in ddl.GUARDED_TABLES:
            for drop in ddl.drop_statements(table, engine.dialect.name):
                conn.execute(text(drop))
        conn.execute(text(statement), params)
    forget_head(engine)


@pytest.fixture
def dpo(as_operator: Any) -> Any:
    """A DPO signed in with a fresh second factor (made before the log below)."""
    return as_operator("dpo")


@pytest.fixture
def log(dpo: Any, within: Any) -> list[int]:
    """The fictional entries of :data:`LOG`; returns their seqs in order."""

    def arrange(session: Session) -> list[int]:
        out = []
        for hour, actor_type, actor_id, subject, purpose, action, decision in LOG:
            draft = EntryDraft(
                action=action,
                actor_type=actor_type,
                actor_id=actor_id,
                subject=subject,
                purpose=purpose,
                decision=decision,
                reasons=("consent_invalid",) if decision == "deny" else (),
                details={"fields": ["nickname", "city"], "hour": hour},
            )
            out += append(session, draft, hour=hour)
        return out

    seqs: list[int] = within(arrange)
    return seqs


# -- the explorer ----------------------------------------------------------------------------

#: Each filter alone and combined: (query, which LOG rows match).
FILTER_CASES = [
    ({"subject": SUB_A}, {0, 4, 5}),
    ({"purpose": "marketing_push"}, {0, 2, 5}),
    ({"actor_type": "service", "actor_id": "svc-push"}, {0, 2}),
    ({"actor_type": "operator"}, {1, 5}),
    ({"actor_id": "svc-bi"}, {4}),
    ({"action": "consent.grant"}, {5}),
    ({"decision": "deny"}, {1}),
    ({"decision": "error"}, {4}),
    ({"since": local(3), "until": local(5)}, {2, 3}),
    ({"subject": SUB_A, "decision": "allow"}, {0, 5}),
    ({"purpose": "marketing_push", "since": local(2), "actor_type": "service"}, {2}),
    ({"subject": SUB_B, "action": "profile.read", "decision": "deny", "until": local(3)}, {1}),
]


@pytest.mark.parametrize(("filters", "expected"), FILTER_CASES)
def test_each_filter_and_their_combination_select_exactly_the_matching_entries(
    dpo: Any, log: list[int], filters: dict[str, str], expected: set[int]
) -> None:
    resp = dpo.get("/console/audit", query_string=filters, headers=EN)
    assert resp.status_code == 200
    shown = seqs_on(resp.get_data(as_text=True))
    # Entries outside the fictional log (the sign-in's own) are in 2026 and never match.
    assert shown == sorted((log[i] for i in expected), reverse=True)


def test_unfiltered_explorer_lists_newest_first_and_links_each_entry(
    dpo: Any, log: list[int]
) -> None:
    page = dpo.get("/console/audit", headers=EN).get_data(as_text=True)
    shown = seqs_on(page)
    assert shown[: len(log)] == sorted(log, reverse=True)
    urls = parse(page).urls
    assert all(f"/console/audit/{seq}" in urls for seq in log)
    assert "All times on this page are UTC" in page
    assert "2030-01-01 06:00:00" in page  # the newest entry's time, in UTC


def test_the_form_keeps_the_filters_and_exports_use_them(dpo: Any, log: list[int]) -> None:
    query = {"subject": SUB_A, "decision": "allow", "since": local(0)}
    page = dpo.get("/console/audit", query_string=query, headers=EN).get_data(as_text=True)
    form = next(f for f in parse(page).forms if f["method"] == "get")
    assert form["fields"]["subject"] == SUB_A and form["fields"]["since"] == local(0)
    exports = [u for u in parse(page).urls if u.startswith("/console/audit/export")]
    formats = set()
    for url in exports:
        args = parse_qs(urlsplit(html.unescape(url)).query)
        formats |= set(args.pop("format"))
        assert {k: v[0] for k, v in args.items()} == query
    assert formats == {"csv", "jsonl"}


def _walk(dpo: Any, url: str) -> tuple[list[int], int]:
    """Follow the "older" links from ``url``; every seq shown, and how many pages."""
    seen: list[int] = []
    pages = 0
    next_url: str | None = url
    while next_url is not None:
        resp = dpo.get(next_url, headers=EN)
        assert resp.status_code == 200
        page = resp.get_data(as_text=True)
        seen += seqs_on(page)
        next_url = older_link(page)
        pages += 1
        assert pages < 50, "the pages never end"
    return seen, pages


def test_keyset_pages_show_every_entry_exactly_once(dpo: Any, within: Any) -> None:
    def arrange(session: Session) -> None:
        for i in range(console_audit.PAGE_SIZE * 2 + 7):
            draft = EntryDraft(
                action="test.event", actor_type="system", actor_id="t", subject=SUB_A
            )
            append(session, draft, hour=i / 60)

    within(arrange)
    seen, pages = _walk(dpo, f"/console/audit?subject={SUB_A}")
    everything = [r["seq"] for r in within(all_rows) if r["subject_id"] == SUB_A]
    assert seen == everything and len(set(seen)) == len(seen)
    assert pages == 3


def test_short_pages_with_a_cursor_still_link_to_older_entries(
    dpo: Any, log: list[int], within: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Filters without an index examine a window of the log per page; a small window
    # makes pages that come back short (even empty) before the end.
    monkeypatch.setattr(console_audit, "SCAN_WINDOW", 2)
    seen, pages = _walk(dpo, "/console/audit?decision=allow")
    assert seen == [r["seq"] for r in within(all_rows) if r["decision"] == "allow"]
    assert len(seen) < console_audit.PAGE_SIZE < pages * console_audit.PAGE_SIZE
    assert pages > 2  # one page would have held them all: the short pages linked on


BAD_QUERIES = [
    ({"since": "yesterday"}, "“From” is not a date and time"),
    ({"until": "2030-13-01T00:00"}, "“Until” is not a date and time"),
    ({"since": local(5), "until": local(2)}, "“Until” must not be before “From”"),
    ({"decision": "maybe"}, "Choose a decision from the list"),
    ({"actor_type": "robot"}, "Choose an actor type from the list"),
    ({"subject": "lin.xiaoyu"}, "A subject id is"),
    ({"purpose": "Marketing Push"}, "A purpose is a code"),
    ({"before": "abc"}, "The link to older entries is broken"),
    ({"before": "-1"}, "The link to older entries is broken"),
    ({"before": str(2**64)}, "The link to older entries is broken"),
    ({"colour": "red"}, "This page has no parameter “colour”"),
]


@pytest.mark.parametrize(("query", "message"), BAD_QUERIES)
def test_bad_filter_input_answers_400_with_a_message_and_writes_nothing(
    dpo: Any, log: list[int], within: Any, query: dict[str, str], message: str
) -> None:
    before = within(log_size)
    resp = dpo.get("/console/audit", query_string=query, headers=EN)
    assert resp.status_code == 400
    page = resp.get_data(as_text=True)
    assert message in page
    assert seqs_on(page) == []  # nothing was searched
    assert within(log_size) == before


def test_a_filter_given_twice_is_refused(dpo: Any, log: list[int]) -> None:
    resp = dpo.get("/console/audit?decision=deny&decision=error", headers=EN)
    assert resp.status_code == 400
    assert "Give “decision” once." in resp.get_data(as_text=True)


def test_a_bad_export_answers_400_and_records_no_export(
    dpo: Any, log: list[int], within: Any
) -> None:
    before = within(log_size)
    for query in ({"format": "xlsx"}, {"format": "csv", "since": "soon"}, {}):
        resp = dpo.get("/console/audit/export", query_string=query, headers=EN)
        assert resp.status_code == 400, query
        assert "Nothing was searched" in resp.get_data(as_text=True)
    assert within(log_size) == before


def test_an_export_whose_filter_reads_as_personal_data_is_refused(
    dpo: Any, log: list[int], within: Any
) -> None:
    before = within(log_size)
    # A (fictional) mobile number as an actor id: the log cannot record such an export.
    resp = dpo.get("/console/audit/export?format=csv&actor_id=13800000017", headers=EN)
    assert resp.status_code == 400
    assert "looks like personal information" in resp.get_data(as_text=True)
    assert within(log_size) == before


# -- one entry -------------------------------------------------------------------------------


def test_entry_detail_shows_every_column_and_a_passing_proof(
    dpo: Any, log: list[int], within: Any
) -> None:
    seq = log[1]
    resp = dpo.get(f"/console/audit/{seq}", headers=EN)
    assert resp.status_code == 200
    page = html.unescape(resp.get_data(as_text=True))
    for shown in (SUB_B, "customer_service", "profile.read", "consent_invalid", "2030-01-01T02"):
        assert shown in page
    assert '"fields": [\n    "nickname",\n    "city"\n  ]' in page  # details, indented
    assert page.count('class="pass"') == 4 and 'class="fail"' not in page
    assert "Verified: this entry is in the signed log" in page
    row = next(r for r in within(all_rows) if r["seq"] == seq)
    assert b64(bytes(row["leaf_hash"])) in page
    signed = within(latest_checkpoint)
    assert signed is not None and signed.tree_size > seq  # signed for the check, committed
    assert f"#{signed.id}" in page and b64(signed.root_hash) in page
    # The look is itself on record: who viewed which entry (its number, nothing more).
    views = [r for r in within(all_rows) if r["action"] == "audit.view"]
    assert len(views) == 1 and views[0]["actor_type"] == "operator"
    assert views[0]["resource"] == "audit_entry" and views[0]["subject_id"] is None
    assert orjson.loads(views[0]["details"]) == {"seq": seq}


def test_a_tampered_entry_shows_its_proof_failing(app: Flask, dpo: Any, log: list[int]) -> None:
    seq = log[2]
    assert dpo.get(f"/console/audit/{seq}").status_code == 200  # signs a checkpoint over it
    tamper(app, "UPDATE audit_entries SET decision = 'deny' WHERE seq = :seq", seq=seq)
    page = html.unescape(dpo.get(f"/console/audit/{seq}", headers=EN).get_data(as_text=True))
    assert "The check failed" in page
    assert re.search(r'class="fail">.*The leaf hash recomputed', page)
    assert re.search(r'class="fail">.*The inclusion proof leads', page)
    assert re.search(r'class="pass">.*Ed25519 signature is valid', page)


@pytest.mark.parametrize("seq", [10**9, 2**64])
def test_an_unknown_entry_is_a_404_page(dpo: Any, log: list[int], seq: int) -> None:
    resp = dpo.get(f"/console/audit/{seq}", headers=EN)
    assert resp.status_code == 404
    assert "The log has no entry" in resp.get_data(as_text=True)


# -- step-up ---------------------------------------------------------------------------------


def _signed_in_with_totp(app: Flask, make_operator: Any) -> tuple[Any, pyotp.TOTP, str]:
    """A DPO signed in through the pages with a real TOTP; the code enrolment used."""
    make_operator("dpo", username="mei.dpo")
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    client.post(
        "/console/login",
        data={"username": "mei.dpo", "password": PASSWORD, "csrf_token": csrf_of(page)},
    )
    page = client.get("/console/totp/enrol").get_data(as_text=True)
    secret = re.search(r'<code id="secret">([A-Z2-7]+)</code>', page)
    assert secret
    totp = pyotp.TOTP(secret.group(1))
    code = totp.now()
    resp = client.post("/console/totp/enrol", data={"code": code, "csrf_token": csrf_of(page)})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/")
    return client, totp, code


def test_stale_second_factor_sends_detail_and_export_to_step_up_and_back(
    app: Flask, make_operator: Any, within: Any
) -> None:
    client, totp, used_code = _signed_in_with_totp(app, make_operator)
    seq = within(
        lambda s: append(
            s, EntryDraft(action="test.event", actor_type="system", actor_id="t"), hour=0
        )
    )[0]
    with client.session_transaction() as sess:
        sess["mfa_at"] = int(time.time()) - 3600  # an hour ago
    for path in (f"/console/audit/{seq}", "/console/audit/export?format=csv&decision=deny"):
        resp = client.get(path)
        assert resp.status_code == 302
        target = urlsplit(resp.headers["Location"])
        assert target.path == "/console/step-up"
        assert parse_qs(target.query)["next"] == [path]
    exports_before = within(lambda s: sum(r["action"] == "audit.export" for r in all_rows(s)))
    assert exports_before == 0  # the redirected export did not run

    step_up = f"/console/step-up?next=/console/audit/{seq}"
    token = csrf_of(client.get(step_up).get_data(as_text=True))
    # The code used at enrolment cannot be replayed (the exact code: now() may be new).
    replay = client.post(step_up, data={"code": used_code, "csrf_token": token})
    assert replay.status_code == 401
    assert client.get(f"/console/audit/{seq}").status_code == 302
    fresh = totp.at(time.time() + 30)  # the next step: never the one used before
    resp = client.post(step_up, data={"code": fresh, "csrf_token": token})
    assert resp.status_code == 302 and resp.headers["Location"] == f"/console/audit/{seq}"
    assert client.get(f"/console/audit/{seq}").status_code == 200
    assert client.get("/console/audit/export?format=csv&decision=deny").status_code == 200


# -- export ----------------------------------------------------------------------------------


def test_csv_export_streams_the_filtered_entries_with_headers(dpo: Any, log: list[int]) -> None:
    resp = dpo.get("/console/audit/export?format=csv&purpose=marketing_push")
    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert re.fullmatch(
        r'attachment; filename="audit-entries-\d{8}T\d{6}Z\.csv"',
        resp.headers["Content-Disposition"],
    )
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [int(r[0]) for r in rows[1:]] == [log[5], log[2], log[0]]
    assert {r[6] for r in rows[1:]} == {"marketing_push"}


def test_jsonl_export_streams_one_entry_per_line(dpo: Any, log: list[int]) -> None:
    resp = dpo.get(f"/console/audit/export?format=jsonl&subject={SUB_B}")
    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson"
    assert resp.headers["Content-Disposition"].endswith('.jsonl"')
    lines = [orjson.loads(line) for line in resp.get_data().splitlines()]
    assert [e["seq"] for e in lines] == [log[2], log[1]]
    assert lines[1]["actor"] == {"type": "operator", "id": "7"}
    assert lines[1]["reasons"] == ["consent_invalid"]


def test_the_export_is_audited_and_committed_before_the_first_byte(
    dpo: Any, log: list[int], within: Any
) -> None:
    whoami = dpo.get("/api/v1/whoami").get_json()
    resp = dpo.get(
        f"/console/audit/export?format=jsonl&decision=deny&since={local(1)}", buffered=False
    )
    try:
        assert resp.status_code == 200
        # Nothing of the body has been read yet: the entry is already committed.
        recorded = [r for r in within(all_rows) if r["action"] == "audit.export"]
        assert len(recorded) == 1
        entry = recorded[0]
        assert (entry["actor_type"], entry["actor_id"]) == ("operator", str(whoami["id"]))
        assert entry["resource"] == "audit_log"
        assert orjson.loads(entry["details"]) == {
            "format": "jsonl",
            "filters": {"decision": "deny", "since": format_time(at(1))},
        }
    finally:
        resp.close()


def test_csv_export_defuses_cells_a_spreadsheet_would_run(
    dpo: Any, log: list[int], within: Any
) -> None:
    draft = EntryDraft(
        action="test.event",
        actor_type="service",
        actor_id="-2-3",
        resource='=HYPERLINK("http://example.com")',
    )
    seq = within(lambda s: append(s, draft, hour=7))[0]
    resp = dpo.get("/console/audit/export?format=csv&action=test.event")
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True))))
    row = next(r for r in rows[1:] if r[0] == str(seq))
    assert row[3] == "'-2-3"
    assert row[7] == '\'=HYPERLINK("http://example.com")'


# -- verification ----------------------------------------------------------------------------


def _runs(session: Session) -> list[AuditVerification]:
    return list(session.scalars(select(AuditVerification).order_by(AuditVerification.id)))


def test_verify_now_without_csrf_is_refused_and_runs_nothing(
    dpo: Any, log: list[int], within: Any
) -> None:
    before = within(log_size)
    resp = dpo.client.post("/console/verification", data={"scope": "whole"}, headers=EN)
    assert resp.status_code == 403
    assert within(_runs) == [] and within(log_size) == before


def test_verify_now_records_a_run_and_shows_it(dpo: Any, log: list[int], within: Any) -> None:
    page = dpo.get("/console/verification", headers=EN).get_data(as_text=True)
    assert "The log has never been verified" in page
    resp = dpo.client.post(
        "/console/verification",
        data={"scope": "whole", "csrf_token": csrf_of(page)},
        headers=EN,
    )
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/console/verification"
    runs = within(_runs)
    assert len(runs) == 1 and runs[0].ok and runs[0].since_checkpoint is None
    assert runs[0].entries_checked >= len(LOG)
    shown = dpo.get("/console/verification", headers=EN).get_data(as_text=True)
    assert "The audit log verified" in shown  # the flashed outcome
    assert "Passed." in shown and f"#{runs[0].id}" in shown
    assert f"/console/audit/{runs[0].audit_seq}" in shown  # the run's own log entry


def test_a_failed_verification_shows_the_alert_on_the_console_home(
    app: Flask, dpo: Any, log: list[int], within: Any, caplog: pytest.LogCaptureFixture
) -> None:
    home = dpo.get("/console/", headers=EN).get_data(as_text=True)
    assert "The last audit verification failed" not in home
    tamper(app, "UPDATE audit_entries SET purpose = 'analytics' WHERE seq = :seq", seq=log[0])
    token = csrf_of(dpo.get("/console/verification").get_data(as_text=True))
    resp = dpo.client.post(
        "/console/verification", data={"scope": "whole", "csrf_token": token}, headers=EN
    )
    assert resp.status_code == 303
    (run,) = within(_runs)
    assert not run.ok and run.failure_entry == log[0]
    # Logged for alerting too: the check and the entry's number, nothing else.
    (logged,) = [r for r in caplog.records if r.getMessage() == "audit verification failed"]
    assert logged.levelname == "ERROR"
    assert (logged.check, logged.entry) == (run.failure_check, log[0])  # type: ignore[attr-defined]
    page = dpo.get("/console/verification", headers=EN).get_data(as_text=True)
    assert "The verification failed" in page  # flashed
    assert "Failed." in page and f"/console/audit/{log[0]}" in page
    home = dpo.get("/console/", headers=EN).get_data(as_text=True)
    assert "The last audit verification failed" in home


def test_an_unknown_verification_scope_is_refused_and_runs_nothing(
    dpo: Any, log: list[int], within: Any
) -> None:
    token = csrf_of(dpo.get("/console/verification").get_data(as_text=True))
    resp = dpo.client.post(
        "/console/verification", data={"scope": "everything", "csrf_token": token}, headers=EN
    )
    assert resp.status_code == 400
    assert "Choose what to verify" in resp.get_data(as_text=True)
    assert within(_runs) == []


def test_runs_and_checkpoints_are_keyset_paged(app: Flask, dpo: Any, within: Any) -> None:
    def arrange(session: Session) -> None:
        for i in range(console_audit.CHECKPOINTS_SHOWN + 3):
            append(
                session, EntryDraft(action="test.event", actor_type="system", actor_id="t"), hour=i
            )
            create_checkpoint(session, audit.get_signer(app))
            session.commit()
        stamp = format_time(at(100))
        for _ in range(console_audit.RUNS_SHOWN + 4):
            record_report(session, Report(entries_checked=1), stamp)
            session.commit()

    within(arrange)
    runs_seen: list[str] = []
    cps_seen: list[str] = []
    for table, link, seen in (
        ("runs", "Older runs", runs_seen),
        ("checkpoints", "Older checkpoints", cps_seen),
    ):
        url: str | None = "/console/verification"
        while url is not None:
            page = dpo.get(url, headers=EN).get_data(as_text=True)
            body = page.split(f'<table id="{table}">')[1].split("</table>")[0]
            seen += re.findall(r"<tr>\s*<td>#(\d+)", body)
            found = re.search(rf'href="([^"]+)">{link}<', page)
            url = html.unescape(found.group(1)) if found else None
    all_runs = within(lambda s: [str(r.id) for r in reversed(_runs(s))])
    assert runs_seen == all_runs and len(all_runs) == console_audit.RUNS_SHOWN + 4
    all_cps = within(
        lambda s: [
            str(i) for i in s.scalars(text("SELECT id FROM audit_checkpoints ORDER BY id DESC"))
        ]
    )
    assert cps_seen == all_cps and len(set(cps_seen)) == len(cps_seen)
    assert len(cps_seen) >= console_audit.CHECKPOINTS_SHOWN + 3


@pytest.mark.parametrize(
    "query", ["runs_before=x", "checkpoints_before=-5", "runs_before=1&runs_before=2"]
)
def test_a_bad_verification_cursor_is_a_400(dpo: Any, query: str) -> None:
    resp = dpo.get(f"/console/verification?{query}", headers=EN)
    assert resp.status_code == 400
    assert 'id="problems"' in resp.get_data(as_text=True)


# -- who may ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["analyst", "marketing", "admin", "customer_service"])
def test_operators_without_audit_read_get_403_everywhere(
    as_operator: Any, within: Any, role: str
) -> None:
    client = as_operator(role)
    seq = within(
        lambda s: append(
            s, EntryDraft(action="test.event", actor_type="system", actor_id="t"), hour=0
        )
    )[0]
    before = within(log_size)
    for path in (
        "/console/audit",
        f"/console/audit/{seq}",
        "/console/audit/export?format=csv",
        "/console/verification",
    ):
        assert client.get(path).status_code == 403, path
    # With a valid CSRF token (ActorClient adds it): refused for the permission itself.
    assert client.post("/console/verification", data={"scope": "whole"}).status_code == 403
    assert within(_runs) == []
    assert within(log_size) == before
    nav = client.get("/console/", headers=EN).get_data(as_text=True)
    assert "/console/audit" not in nav and "/console/verification" not in nav
