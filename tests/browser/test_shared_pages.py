"""Pages outside the portal that share its base: the console's sign-in and an error page."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import LiveServer


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_console_sign_in_and_error_pages_are_translated_and_fit_a_phone(
    live_server: LiveServer, open_page: Any, shoot: Any, lang: str
) -> None:
    page = open_page(lang, "phone")
    page.goto("/console/login")
    assert page.locator("h1").inner_text() == {"zh": "登录", "en": "Sign in"}[lang]
    assert page.get_by_label({"zh": "用户名", "en": "Username"}[lang]).count() == 1
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shoot(page, f"console-login-{lang}-phone")
    response = page.goto("/portal/nowhere")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == {"zh": "页面不存在", "en": "Page not found"}[lang]
    shoot(page, f"error-404-{lang}-phone")
