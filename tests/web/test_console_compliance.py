"""The DPO console's self-check page and report, request queue and agreements list."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import time
from typing import Any

import orjson
import pytest
from flask import Flask
from sqlalchemy import select

from audit.checkpoint import b64
from audit.log import root_at
from audit.models import ENTRIES
from governance.compliance import CHECK_KEYS
from governance.i18n import SESSION_KEY
from governance.requests.models import SubjectRequest
from tests.compliance import builders as b
from tests.web.conftest import csrf_of

PAGES = (
    "/console/self-check",
    "/console/self-check/report",
    "/console/requests",
    "/console/agreements",
)


@pytest.fixture
def as_operator(as_operator: Any) -> Any:
    """Operators who chose English (the texts asserted below are English)."""

    def sign_in(*roles: str, brand: str | None = None) -> Any:
        client = as_operator(*roles, brand=brand)
        with client.client.session_transaction() as sess:
            sess[SESSION_KEY] = "en"
        return client

    return sign_in


def _statuses(page: str) -> dict[str, str]:
    return dict(re.findall(r'data-check="([a-z_]+)" data-status="([a-z]+)"', page))


def _report_entries(within: Any) -> list[dict[str, Any]]:
    rows = within(
        lambda s: (
            s.execute(select(ENTRIES).where(ENTRIES.c.action == "compliance.report"))
            .mappings()
            .all()
        )
    )
    return [dict(r) for r in rows]


@pytest.mark.parametrize("role", ["analyst", "marketing", "customer_service"])
def test_roles_without_the_permissions_get_403_on_every_page(
    app: Flask, catalog: Any, as_operator: Any, role: str
) -> None:
    client = as_operator(role)
    for path in PAGES:
        assert client.get(path).status_code == 403, path


def test_an_admin_sees_agreements_but_not_requests_or_the_self_check(
    app: Flask, catalog: Any, as_operator: Any
) -> None:
    admin = as_operator("admin")
    assert admin.get("/console/requests").status_code == 403
    assert admin.get("/console/self-check").status_code == 403
    assert admin.get("/console/self-check/report").status_code == 403
    assert admin.get("/console/agreements").status_code == 200


def test_the_self_check_page_lists_every_check_with_its_status(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    dpo = as_operator("dpo")
    page = dpo.get("/console/self-check").get_data(as_text=True)
    assert _statuses(page) == {key: "ok" for key in CHECK_KEYS} | {"verification": "attention"}
    assert "/console/self-check/report" in page
    assert 'aria-current="page"' in page
    late = within(lambda s: b.subject_request(s, due_in_days=-4))
    within(lambda s: b.verification(s, ok=False))
    page = dpo.get("/console/self-check").get_data(as_text=True)
    found = _statuses(page)
    assert found["requests"] == "failing" and found["verification"] == "failing"
    assert late in page
    assert "Failing" in page  # said in words, not by colour only


def test_the_report_downloads_as_a_standalone_document_and_is_audited(
    app: Flask, catalog: Any, as_operator: Any, within: Any, make_operator: Any
) -> None:
    within(lambda s: b.subject_request(s, due_in_days=-4))
    dpo = as_operator("dpo")
    resp = dpo.get("/console/self-check/report")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    disposition = resp.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="self-check-\d{8}T\d{6}Z\.html"', disposition)
    body = resp.get_data(as_text=True)
    assert set(_statuses(body)) == set(CHECK_KEYS)
    assert _statuses(body)["requests"] == "failing"
    # Standalone: inline CSS with a print style, nothing fetched from elsewhere.
    assert "<style>" in body and "@media print" in body
    assert "<link" not in body and "<script" not in body and "src=" not in body
    # The page's policy allows that one style by its hash (the app's default forbids
    # inline styles, which would leave the report unstyled in the browser).
    style = re.search(r"<style>(.*?)</style>", body, re.S)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    policy = resp.headers["Content-Security-Policy"]
    assert f"style-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    entries = _report_entries(within)
    assert len(entries) == 1
    entry = entries[0]
    assert entry["resource"] == "self_check" and entry["actor_type"] == "operator"
    details = orjson.loads(entry["details"])
    assert details["items"]["requests"] == {"status": "failing", "count": 1}
    assert "dsr_" not in entry["details"]
    # Who, when, and the audit head covering the report's own entry.
    assert f"<code>{entry['actor_id']}</code>" in body
    head = re.search(r"tree size (\d+), root <code>([A-Za-z0-9+/=]+)</code>", body)
    assert head is not None and int(head.group(1)) == entry["seq"] + 1
    root = within(lambda s: b64(root_at(s, int(head.group(1)))))
    assert head.group(2) == root
    assert f"seq {entry['seq']}" in body
    inline = dpo.get("/console/self-check/report?inline=1")
    assert inline.headers["Content-Disposition"].startswith("inline; ")
    assert len(_report_entries(within)) == 2


def test_the_report_needs_a_fresh_second_factor(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    dpo = as_operator("dpo")
    with dpo.client.session_transaction() as sess:
        sess["mfa_at"] = int(time.time()) - 3600
    resp = dpo.get("/console/self-check/report?inline=1")
    assert resp.status_code == 302
    assert "/console/step-up" in resp.headers["Location"]
    assert (
        "self-check%2Freport" in resp.headers["Location"]
        or "self-check/report" in resp.headers["Location"]
    )
    assert _report_entries(within) == []
    assert dpo.get("/console/self-check").status_code == 200  # the page itself needs none


def test_the_queue_lists_open_requests_oldest_due_first_and_flags_overdue(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    soon = within(lambda s: b.subject_request(s, due_in_days=2.5))
    late = within(lambda s: b.subject_request(s, due_in_days=-3.5, status="in_progress"))
    later = within(lambda s: b.subject_request(s, due_in_days=9.5))
    latest = within(lambda s: b.subject_request(s, due_in_days=-10.5))
    done = within(lambda s: b.subject_request(s, due_in_days=-20, status="completed"))
    dpo = as_operator("dpo")
    page = dpo.get("/console/requests").get_data(as_text=True)
    order = re.findall(r'data-request="(dsr_[0-9a-f]+)"', page)
    assert order == [latest, late, soon, later]
    rows = dict(re.findall(r'data-request="(dsr_[0-9a-f]+)">(.*?)</tr>', page, re.S))
    assert "OVERDUE by 10 days" in rows[latest] and "OVERDUE by 3 days" in rows[late]
    assert "OVERDUE" not in rows[soon] and "2 days left" in rows[soon]
    assert 'class="overdue"' in page.split(latest)[0].rsplit("<tr", 1)[1]
    closed = dpo.get("/console/requests?status=completed").get_data(as_text=True)
    assert re.findall(r'data-request="(dsr_[0-9a-f]+)"', closed) == [done]


def test_requests_are_started_and_rejected_from_the_page_with_a_csrf_token(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    request_id = within(lambda s: b.subject_request(s, due_in_days=5))
    dpo = as_operator("dpo")
    page = dpo.client.get("/console/requests").get_data(as_text=True)
    token = csrf_of(page)
    refused = dpo.client.post(f"/console/requests/{request_id}/start", data={})
    assert refused.status_code in (400, 403)
    status = lambda: within(lambda s: s.get(SubjectRequest, request_id).status)  # noqa: E731
    assert status() == "open"
    resp = dpo.client.post(f"/console/requests/{request_id}/start", data={"csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert status() == "in_progress"
    for made_up in ("", "because"):  # not a reason on the list: refused, nothing changes
        refused = dpo.client.post(
            f"/console/requests/{request_id}/reject",
            data={"csrf_token": token, "reason": made_up},
            follow_redirects=True,
        )
        assert "choose a reason from the list" in refused.get_data(as_text=True)
        assert status() == "in_progress"
    resp = dpo.client.post(
        f"/console/requests/{request_id}/reject",
        data={"csrf_token": token, "reason": "duplicate"},
    )
    assert resp.status_code == 302
    assert status() == "rejected"
    row = within(lambda s: s.get(SubjectRequest, request_id))
    assert row.result == {"code": "duplicate"}
    # A closed request cannot be moved on: the page says so and changes nothing.
    again = dpo.client.post(
        f"/console/requests/{request_id}/complete",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "was not changed" in again.get_data(as_text=True)
    assert status() == "rejected"


def test_an_unknown_status_filter_says_so_and_shows_the_open_requests(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    request_id = within(lambda s: b.subject_request(s, due_in_days=5))
    resp = as_operator("dpo").client.get(
        "/console/requests?status=everything", follow_redirects=True
    )
    page = resp.get_data(as_text=True)
    assert resp.request.path == "/console/requests" and not resp.request.query_string
    assert "There is no such status" in page and request_id in page


def test_an_erasure_is_not_completed_from_the_page(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    request_id = within(lambda s: b.subject_request(s, due_in_days=5, kind="erasure"))
    dpo = as_operator("dpo")
    page = dpo.client.get("/console/requests").get_data(as_text=True)
    assert f"/console/requests/{request_id}/complete" not in page
    resp = dpo.client.post(
        f"/console/requests/{request_id}/complete", data={"csrf_token": csrf_of(page)}
    )
    assert resp.status_code == 302
    assert within(lambda s: s.get(SubjectRequest, request_id).status) == "open"


def test_agreements_show_their_status_and_flag_expired_ones(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    today = b.today()
    partner = within(b.partner)
    lonely = within(lambda s: b.partner(s, "Example Insurance (fictional)"))
    past, future = today - dt.timedelta(days=60), today + dt.timedelta(days=60)
    made = {
        "active": within(lambda s: b.agreement(s, partner, valid_from=past, valid_until=future)),
        "expired": within(
            lambda s: b.agreement(
                s, partner, valid_from=past, valid_until=today - dt.timedelta(days=1)
            )
        ),
        "draft": within(
            lambda s: b.agreement(s, partner, valid_from=past, valid_until=future, status="draft")
        ),
        "revoked": within(
            lambda s: b.agreement(s, partner, valid_from=past, valid_until=future, status="revoked")
        ),
        "upcoming": within(
            lambda s: b.agreement(
                s, partner, valid_from=today + dt.timedelta(days=5), valid_until=future
            )
        ),
    }
    dpo = as_operator("dpo")
    page = dpo.get("/console/agreements").get_data(as_text=True)
    shown = dict(re.findall(r'data-agreement="(agr_[0-9a-f]+)" data-status="([a-z]+)"', page))
    assert shown == {agreement_id: status for status, agreement_id in made.items()}
    expired_row = page.split(f'data-agreement="{made["expired"]}"')[1].split("</tr>")[0]
    assert "⚠" in expired_row and "expired" in expired_row
    assert lonely in page and "No agreement yet." in page
    assert "joint_modelling_partner_bank" in page


def test_a_brand_operator_sees_only_their_brands_partners(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    from governance.brands import Brand

    def other_brand(s: Any) -> None:
        s.add(Brand(id="teahouse", name="Example Teahouse (fictional)"))
        s.commit()

    within(other_brand)
    partner = within(b.partner)
    dpo = as_operator("dpo", brand="teahouse")
    page = dpo.get("/console/agreements").get_data(as_text=True)
    assert partner not in page and "No partners yet." in page


def test_the_command_prints_the_checks_and_fails_while_one_is_failing(
    app: Flask, catalog: Any, within: Any
) -> None:
    runner = app.test_cli_runner()
    within(lambda s: b.verification(s, ok=True))
    result = runner.invoke(args=["compliance", "selfcheck"])
    assert result.exit_code == 0, result.output
    assert "self-check" in result.output and "requests" in result.output
    late = within(lambda s: b.subject_request(s, due_in_days=-2))
    result = runner.invoke(args=["compliance", "selfcheck", "--json"])
    assert result.exit_code == 1
    found = orjson.loads(result.output)
    assert found["status"] == "failing"
    requests = next(i for i in found["items"] if i["key"] == "requests")
    assert requests["count"] == 1 and requests["rows"][0]["request"] == late


def test_the_page_and_report_never_show_a_profile_value(
    app: Flask, catalog: Any, as_operator: Any, within: Any
) -> None:
    from tests.web.helpers import PROFILE, decide, new_customer

    customer = within(new_customer)
    within(lambda s: b.age_value(s, customer, "browse_history", 400))
    within(lambda s: b.age_value(s, customer, "mobile", 2000))
    within(lambda s: decide(s, customer, "marketing_push"))
    within(lambda s: b.subject_request(s, due_in_days=-1, subject=customer))
    dpo = as_operator("dpo")
    page = dpo.get("/console/self-check").get_data(as_text=True)
    report = dpo.get("/console/self-check/report").get_data(as_text=True)
    for body in (page, report):
        assert _statuses(body)["retention"] == "failing"
        for value in (PROFILE["mobile"], PROFILE["email"], PROFILE["nickname"], "tea-set-01"):
            assert str(value) not in body
    # The page links each check to where it is acted on; the report links nowhere.
    section = page.split('data-check="requests"')[1].split("</section>")[0]
    assert 'href="/console/requests"' in section
    assert "href=" not in report


def test_the_queue_pages_by_keyset_and_refuses_a_made_up_cursor(
    app: Flask, catalog: Any, as_operator: Any, within: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from governance.web import console_compliance

    monkeypatch.setattr(console_compliance, "QUEUE_PAGE", 2)
    made = [within(lambda s, d=d: b.subject_request(s, due_in_days=d)) for d in (1, 2, 3)]
    dpo = as_operator("dpo")
    first = dpo.get("/console/requests").get_data(as_text=True)
    assert re.findall(r'data-request="(dsr_[0-9a-f]+)"', first) == made[:2]
    link = re.search(r'rel="next" href="([^"]+)"', first)
    assert link is not None
    second = dpo.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r'data-request="(dsr_[0-9a-f]+)"', second) == made[2:]
    assert 'rel="next"' not in second
    resp = dpo.get("/console/requests?after=not-a-cursor")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/requests")
