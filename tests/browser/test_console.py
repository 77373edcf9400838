"""The DPO console in a real browser: sign-in with TOTP, the audit, its export, the self-check.

The journey is the issue's acceptance path for the DPO: sign in with a password and a TOTP
code (enrolled at first sign-in, from the key the page shows), filter the audit trail down
to one customer's denied reads, export them as CSV, open an entry and its proof, and open
the compliance self-check report. Then every console page, in Chinese and English, at
360 px and desktop width, is opened and screenshotted into ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pyotp
import pytest

from governance.auth import services
from tests.browser.conftest import LiveServer
from tests.compliance import builders as b
from tests.web.helpers import decide, file_request, new_customer, service_token

PASSWORD = "correct horse battery staple"
SERVICE = "crm-insights"


def _api(server: LiveServer, path: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = server.post(path, token, body)
    assert status == 200
    found: dict[str, Any] = json.loads(answer)
    return found


def _operator(server: LiveServer, username: str) -> None:
    def make(db: Any) -> None:
        services.create_operator(db, username, PASSWORD, ["dpo"])
        db.commit()

    server.run(make)


def _sign_in(page: Any, username: str) -> None:
    """Password, then enrol the second factor from the key the page shows, then a code."""
    page.goto("/console/login")
    page.locator("#username").fill(username)
    page.locator("#password").fill(PASSWORD)
    page.locator("form[action='/console/login'] button").click()
    page.wait_for_url("**/console/totp/enrol")
    secret = page.locator("#secret").inner_text().strip()
    page.locator("#code").fill(pyotp.TOTP(secret).now())
    page.locator("form[action='/console/totp/enrol'] button").click()
    page.wait_for_url("**/console/")


@pytest.fixture(scope="module")
def activity(live_server: LiveServer) -> dict[str, Any]:
    """A customer read by a service twice: once allowed, once refused (no consent)."""
    subject = live_server.run(lambda db: new_customer(db, nickname="周子墨"))
    live_server.run(lambda db: decide(db, subject, "personalised_recommendation", tier="behaviour"))
    token = live_server.run(
        lambda db: service_token(db, SERVICE, ["personalised_recommendation", "analytics"])
    )
    path = f"/api/v1/profiles/{subject}/read"
    allowed = _api(
        live_server,
        path,
        token,
        {"purpose": "personalised_recommendation", "fields": ["browse_history", "city"]},
    )
    denied = _api(live_server, path, token, {"purpose": "analytics", "fields": ["coupon_use"]})
    assert allowed["audit_seq"] != denied["audit_seq"]
    return {"subject": subject, "allowed": allowed["audit_seq"], "denied": denied["audit_seq"]}


def test_dpo_signs_in_filters_the_audit_exports_csv_and_opens_the_self_check_report(
    live_server: LiveServer, open_page: Any, shoot: Any, activity: dict[str, Any]
) -> None:
    _operator(live_server, "wen.dpo")
    page = open_page("en", "desktop")
    _sign_in(page, "wen.dpo")
    assert "Signed in as wen.dpo" in page.locator("h1").inner_text()

    # Filter the audit trail: this customer's denied decisions only.
    page.locator("nav.console a", has_text="Audit").click()
    page.wait_for_url("**/console/audit")
    page.get_by_label("Subject id").fill(activity["subject"])
    page.get_by_label("Decision").select_option("deny")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url("**decision=deny**")
    rows = page.locator("table.audit-entries tbody tr")
    assert rows.count() == 1
    assert rows.first.get_attribute("id") == f"entry-{activity['denied']}"
    assert activity["subject"] in rows.first.inner_text()
    assert page.locator(f"#entry-{activity['allowed']}").count() == 0
    shoot(page, "dpo-audit-filtered-en-desktop")

    # Export what the filters match as CSV: the same one entry.
    with page.expect_download() as download:
        page.locator(".export-links a", has_text="CSV").click()
    assert download.value.suggested_filename.endswith(".csv")
    table = list(csv.reader(io.StringIO(Path(download.value.path()).read_text("utf-8"))))
    header, lines = table[0], table[1:]
    assert [line[header.index("seq")] for line in lines] == [str(activity["denied"])]
    assert lines[0][header.index("subject")] == activity["subject"]
    assert lines[0][header.index("decision")] == "deny"

    # The entry's detail, with its inclusion proof checked against the signed log.
    page.locator(f"#entry-{activity['denied']} a").click()
    page.wait_for_url(f"**/console/audit/{activity['denied']}")
    assert page.locator("ol.checks li.pass").count() >= 3
    assert page.locator("ol.checks li.fail").count() == 0
    shoot(page, "dpo-audit-entry-en-desktop")

    # The compliance self-check, and its report opened for printing.
    page.locator("nav.console a", has_text="Self-check").click()
    page.wait_for_url("**/console/self-check")
    denials = page.locator("#check-denials")
    assert "coupon_use" not in denials.inner_text()  # field names, not values, and no values
    with page.context.expect_page() as opened:
        page.get_by_role("link", name="Open the report to print").click()
    report = opened.value
    report.wait_for_load_state()
    assert "/console/self-check/report" in report.url
    # Its inline style applies: the page's own policy allows exactly that style.
    assert report.evaluate("getComputedStyle(document.body).maxWidth") != "none"
    text = report.locator("body").inner_text()
    assert "wen.dpo" in text
    for heading in ("Last audit verification", "Overdue data-subject requests"):
        assert heading in text
    shoot(report, "dpo-self-check-report-en-desktop")


@pytest.fixture(scope="module")
def dpo_state(live_server: LiveServer, browser: Any, activity: dict[str, Any]) -> Any:
    """A DPO signed in through the browser (TOTP enrolled), with work in the queue."""
    subject = activity["subject"]
    live_server.run(lambda db: file_request(db, subject, "access"))  # answered at once
    live_server.run(lambda db: b.subject_request(db, due_in_days=9, kind="correction"))
    live_server.run(lambda db: b.subject_request(db, due_in_days=-2, kind="erasure"))  # overdue

    def partners(db: Any) -> None:
        today = b.today()
        bank = b.partner(db, "Example Bank (fictional)")
        b.agreement(
            db,
            bank,
            valid_from=today - dt.timedelta(days=30),
            valid_until=today + dt.timedelta(days=300),
        )
        b.agreement(
            db,
            bank,
            valid_from=today - dt.timedelta(days=400),
            valid_until=today - dt.timedelta(days=35),
        )

    live_server.run(partners)
    _operator(live_server, "hua.dpo")
    context = browser.new_context(base_url=live_server.url, locale="en-US")
    try:
        page = context.new_page()
        _sign_in(page, "hua.dpo")
        # Run a verification from the page: the console's own button.
        page.goto("/console/verification")
        page.locator("form[action='/console/verification'] button[type=submit]").click()
        page.wait_for_url("**/console/verification")
        return context.storage_state()
    finally:
        context.close()


#: The console's pages (name, path) in the order a DPO meets them.
def _pages(activity: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("console-home", "/console/"),
        ("console-audit", f"/console/audit?subject={activity['subject']}"),
        ("console-audit-entry", f"/console/audit/{activity['allowed']}"),
        ("console-verification", "/console/verification"),
        ("console-charts", "/console/charts?days=30"),
        ("console-self-check", "/console/self-check"),
        ("console-self-check-report", "/console/self-check/report?inline=1"),
        ("console-requests", "/console/requests"),
        ("console-agreements", "/console/agreements"),
        ("console-step-up", "/console/step-up"),
    ]


@pytest.mark.parametrize("width", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_console_page_in_both_languages_at_phone_and_desktop_width(
    live_server: LiveServer,
    open_page: Any,
    shoot: Any,
    activity: dict[str, Any],
    dpo_state: Any,
    lang: str,
    width: str,
) -> None:
    page = open_page(lang, width, storage_state=dpo_state)
    html_lang = {"zh": "zh-CN", "en": "en"}[lang]
    for name, path in _pages(activity):
        response = page.goto(path)
        assert response is not None and response.status == 200, (name, response and response.status)
        assert page.locator("html").get_attribute("lang") == html_lang, name
        heading = page.locator("h1").first.inner_text()
        assert heading, name
        if lang == "zh":
            assert any("\u4e00" <= ch <= "\u9fff" for ch in heading), (name, heading)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
            f"{name} scrolls sideways at {width}"
        )
        shoot(page, f"{name}-{lang}-{width}")
