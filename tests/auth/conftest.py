"""Helpers for the identity tests: form CSRF tokens and fictional subjects."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_in(page: str) -> str:
    """The CSRF token of the form on ``page``."""
    match = _CSRF_RE.search(page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def form_csrf() -> Any:
    """Fetch a page with ``client`` and return the CSRF token of its form."""

    def fetch(client: Any, path: str) -> str:
        return csrf_in(client.get(path).get_data(as_text=True))

    return fetch


@pytest.fixture
def subject_id(app: Flask) -> str:
    """A fictional subject with no profile values."""
    from governance.db import get_session
    from governance.profiles.models import Subject

    with app.app_context():
        db = get_session()
        db.add(Subject(id="sub_fictional0001", birth_year=1990))
        db.commit()
    return "sub_fictional0001"
