"""The consent portal in a real browser: a customer's journey, the keyboard, every page.

The journey is the issue's acceptance path: a customer opens a portal link, grants the
behaviour tier for personalised recommendations, withdraws marketing messages, sees a read
of their data (made by a service through the API) appear, verifies it, and downloads their
data. Screenshots of every page, in Chinese and English, at 360 px and desktop width, go
to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

# Chinese texts use Chinese punctuation (full-width colons).
# ruff: noqa: RUF001
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from consent.models import ConsentState
from governance.auth import services
from tests.browser.conftest import LiveServer
from tests.web.helpers import (
    BEFORE_CHANGE,
    OLD_NOTICE,
    PROFILE,
    decide,
    file_request,
    new_customer,
    portal_path,
    service_token,
)

RECOMMENDER = "recommendation-engine"


def _enter(page: Any, server: LiveServer, subject: str) -> None:
    """Open a fresh portal link and press its button."""
    page.goto(server.run(lambda _db: portal_path(subject)))
    page.locator("form[action='/portal/enter'] button").click()
    page.wait_for_url("**/portal/")


def _states(server: LiveServer, subject: str) -> dict[str, tuple[str, str | None]]:
    def read(db: Any) -> dict[str, tuple[str, str | None]]:
        rows = db.scalars(select(ConsentState).where(ConsentState.subject_id == subject))
        return {s.purpose: (s.status, s.tier) for s in rows}

    return dict(server.run(read))


def test_customer_grants_withdraws_sees_a_read_verifies_it_and_downloads_their_data(
    live_server: LiveServer, open_page: Any, shoot: Any
) -> None:
    subject = live_server.run(lambda db: new_customer(db))
    live_server.run(lambda db: decide(db, subject, "marketing_push"))  # agreed in the app
    token = live_server.run(
        lambda db: service_token(db, RECOMMENDER, ["personalised_recommendation"])
    )
    page = open_page("zh", "phone")

    _enter(page, live_server, subject)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.locator("h1").inner_text() == "您的隐私中心"

    # Grant the behaviour tier for personalised recommendations: one form, one button.
    page.locator("a[href='/portal/purposes/ours']").first.click()
    recommend = page.locator("#p-personalised_recommendation")
    recommend.get_by_label("行为", exact=True).check()
    recommend.locator("form.decide .choices button").first.click()
    page.locator(".flash").wait_for()
    assert "个性化推荐" in page.locator(".flash.success").inner_text()
    assert "已同意 · 行为" in page.locator("#p-personalised_recommendation .badge").inner_text()

    # Withdraw marketing messages: one button on the same screen.
    page.locator("#p-marketing_push button[form='w-marketing_push']").click()
    page.locator("#p-marketing_push .status-withdrawn").wait_for()
    assert "已撤回" in page.locator("#p-marketing_push .badge").inner_text()
    assert _states(live_server, subject) == {
        "marketing_push": ("withdrawn", None),
        "personalised_recommendation": ("granted", "behaviour"),
    }

    # A service reads the profile through the guarded read (the API)...
    status, body = live_server.post(
        f"/api/v1/profiles/{subject}/read",
        token,
        {"purpose": "personalised_recommendation", "fields": ["browse_history", "nickname"]},
    )
    assert status == 200
    seq = json.loads(body)["audit_seq"]

    # ...and the customer sees it under "who used my data", and verifies it.
    page.locator("nav a[href='/portal/activity']").click()
    read = page.locator(f"#read-{seq}")
    assert "个性化推荐" in read.inner_text()
    assert f"系统：{RECOMMENDER}" in read.inner_text()
    assert "浏览记录" in read.inner_text() and "昵称" in read.inner_text()
    read.locator("form button").click()
    page.wait_for_url("**/verify")
    assert "是：核验通过。" in page.locator("#verify-result").inner_text()
    assert page.locator("ol.checks li.pass").count() == 4
    shoot(page, "journey-verify-zh-phone")

    # Download my data: an access request, answered at once, then the JSON file.
    page.locator("nav a[href='/portal/rights']").click()
    page.locator("form[action='/portal/rights/access'] button").click()
    page.locator(".flash").wait_for()
    with page.expect_download() as download:
        page.locator("#requests a[download]").first.click()
    copy = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert copy["format"] == "governance-subject-export/1"
    assert copy["subject"] == subject
    assert copy["values"]["nickname"] == PROFILE["nickname"]
    assert any(e["seq"] == seq for e in copy["audit"]["entries"])


def test_the_portal_works_with_the_keyboard_alone(live_server: LiveServer, open_page: Any) -> None:
    subject = live_server.run(lambda db: new_customer(db))
    page = open_page("en", "phone")
    page.goto(live_server.run(lambda _db: portal_path(subject)))

    page.keyboard.press("Tab")  # the first stop skips to the content
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"

    # Tab to "Continue" and press Enter.
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Continue":
            break
    page.keyboard.press("Enter")
    page.wait_for_url("**/portal/")

    # On the first screen, reach analytics' "Agree" by Tab alone, then press Enter.
    page.goto("/portal/purposes/ours")
    target = "Agree: Business analytics"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == target:
            break
    else:
        pytest.fail(f"{target!r} cannot be reached with Tab")
    focus = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert focus == "solid"  # the focused control is visibly marked
    page.keyboard.press("Enter")
    page.locator(".flash").wait_for()
    assert _states(live_server, subject)["analytics"] == ("granted", "behaviour")


def _export_key(db: Any, name: str, purpose: str) -> str:
    new = services.create_api_key(db, name, [purpose], ["profile:export"], known_purposes={purpose})
    db.commit()
    return new.token


@pytest.fixture(scope="module")
def rich_customer(live_server: LiveServer) -> str:
    """A customer with a bit of everything: grants, re-consent due, reads, an export, requests."""
    subject = live_server.run(lambda db: new_customer(db, nickname="陈思远"))
    live_server.run(lambda db: decide(db, subject, "marketing_push"))
    live_server.run(lambda db: decide(db, subject, "personalised_recommendation", tier="behaviour"))
    live_server.run(lambda db: decide(db, subject, "provision_logistics", "refuse", tier=None))
    # Granted under the old notice, before the material change: re-consent is due now.
    live_server.run(
        lambda db: decide(
            db,
            subject,
            "joint_modelling_partner_bank",
            tier="payment",
            notice=OLD_NOTICE,
            now=BEFORE_CHANGE,
        )
    )
    token = live_server.run(
        lambda db: service_token(db, RECOMMENDER, ["personalised_recommendation", "analytics"])
    )
    read = {"purpose": "personalised_recommendation", "fields": ["browse_history", "city"]}
    assert live_server.post(f"/api/v1/profiles/{subject}/read", token, read)[0] == 200
    denied = {"purpose": "analytics", "fields": ["coupon_use"]}  # never agreed: refused
    assert live_server.post(f"/api/v1/profiles/{subject}/read", token, denied)[0] == 200
    exporter = live_server.run(lambda db: _export_key(db, "crm-campaigns", "marketing_push"))
    export = {"purpose": "marketing_push", "fields": ["city", "nickname"]}
    assert live_server.post("/api/v1/profiles/exports", exporter, export)[0] == 200

    live_server.run(lambda db: file_request(db, subject, "access"))
    live_server.run(lambda db: file_request(db, subject, "correction", fields=("store_visits",)))
    return str(subject)


PAGES = (
    ("home", "/portal/"),
    ("ours", "/portal/purposes/ours"),
    ("sharing", "/portal/purposes/sharing"),
    ("service", "/portal/purposes/service"),
    ("notices", "/portal/notices"),
    ("notice", "/portal/notices/2026-09"),
    ("activity", "/portal/activity"),
    ("rights", "/portal/rights"),
    ("correction", "/portal/rights/correction"),
    ("erasure", "/portal/rights/erasure"),
    ("receipts", "/portal/receipts"),
)
HEADINGS = {
    "zh": {"home": "您的隐私中心", "activity": "谁使用了我的数据", "rights": "我的权利"},
    "en": {"home": "Your privacy centre", "activity": "Who used my data", "rights": "My rights"},
}


def _fits(page: Any) -> bool:
    """No sideways scrolling: nothing is wider than the viewport."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


@pytest.mark.parametrize("width", ["phone", "desktop"])
@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_in_both_languages_at_phone_and_desktop_width(
    live_server: LiveServer,
    open_page: Any,
    shoot: Any,
    rich_customer: str,
    lang: str,
    width: str,
) -> None:
    page = open_page(lang, width)
    page.goto(live_server.run(lambda _db: portal_path(rich_customer)))
    shoot(page, f"enter-{lang}-{width}")
    page.locator("form[action='/portal/enter'] button").click()
    page.wait_for_url("**/portal/")
    html_lang = {"zh": "zh-CN", "en": "en"}[lang]
    for name, path in PAGES:
        page.goto(path)
        assert page.locator("html").get_attribute("lang") == html_lang, name
        if name in HEADINGS[lang]:
            assert page.locator("h1").inner_text() == HEADINGS[lang][name]
        assert _fits(page), f"{name} scrolls sideways at {width}"
        shoot(page, f"{name}-{lang}-{width}")
    # The re-consent prompt is on the start page.
    page.goto("/portal/")
    assert page.locator("#reconsent-title").count() == 1
    page.goto("/portal/activity")
    page.locator("ol.timeline li form button").first.click()
    page.wait_for_url("**/verify")
    assert page.locator("ol.checks li.pass").count() == 4
    assert _fits(page)
    shoot(page, f"verify-{lang}-{width}")
    page.locator("form.signout button").click()
    page.wait_for_url("**/portal/bye")
    shoot(page, f"bye-{lang}-{width}")


def test_the_language_switch_is_remembered_over_the_browsers_language(
    live_server: LiveServer, open_page: Any, rich_customer: str
) -> None:
    page = open_page("zh", "phone")
    page.goto(live_server.run(lambda _db: portal_path(rich_customer)))
    assert page.locator("h1").inner_text() == "管理您的个人信息如何被使用"
    page.locator("form.lang button").click()  # "English", before entering
    page.locator("html[lang=en]").wait_for()
    assert page.locator("h1").inner_text() == "Manage how your personal information is used"
    page.locator("form[action='/portal/enter'] button").click()
    page.wait_for_url("**/portal/")
    assert page.locator("html").get_attribute("lang") == "en"  # kept through sign-in
    page.goto("/portal/rights")
    page.locator("form.lang button").click()  # back to Chinese, on the same page
    page.locator("html[lang=zh-CN]").wait_for()
    assert page.url.endswith("/portal/rights")
    assert page.locator("h1").inner_text() == "我的权利"
