"""Portal page fixtures: customers with data, a browser-like client in their session."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from governance.auth import services
from governance.db import get_session
from tests.web.helpers import new_customer

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token of the (first) form on ``page``."""
    match = _CSRF_RE.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


class Forms(HTMLParser):
    """Every form of a page (method, action, its inputs' names and values) and every URL."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in ("href", "src", "action", "formaction"):
            if name in a:
                self.urls.append(a[name])
        if tag == "form":
            self.forms.append(
                {
                    "method": a.get("method", "get").lower(),
                    "action": a.get("action", ""),
                    "fields": {},
                }
            )
        elif tag in {"input", "select", "textarea", "button"} and self.forms and a.get("name"):
            fields = self.forms[-1]["fields"]
            if a.get("type") in {"radio", "checkbox"} and "checked" not in a:
                fields.setdefault(a["name"], None)
            else:
                fields.setdefault(a["name"], a.get("value", ""))


def parse(page: str) -> Forms:
    """The forms and URLs of ``page``."""
    found = Forms()
    found.feed(page)
    return found


@pytest.fixture
def customer(app: Flask, catalog: Any) -> str:
    """An adult customer with a fictional profile."""
    with app.app_context():
        return new_customer(get_session())


@pytest.fixture
def portal_client(app: Flask) -> Any:
    """A test client in ``subject``'s portal session (a browser with no Accept-Language)."""

    def open_session(subject: str, lang: str | None = None) -> FlaskClient:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(
                actor_type="subject", actor_id=subject, expires_at=services.session_expiry(30)
            )
            if lang:
                sess["lang"] = lang
        return client

    return open_session


@pytest.fixture
def within(app: Flask) -> Any:
    """Run ``work(session)`` in an app context of its own and return what it returns.

    Tests arrange and inspect data this way, never inside an app context held across
    requests (a request would share its ``g``: the database session, the CSRF token).
    """

    def run(work: Any) -> Any:
        with app.app_context():
            return work(get_session())

    return run
