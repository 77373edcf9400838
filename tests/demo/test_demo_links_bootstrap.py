"""``governance demo links`` (one-time portal links) and ``governance demo bootstrap``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from consent.catalog.models import CatalogVersion
from governance.auth.models import Operator
from governance.profiles.models import Subject

_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def redeem(app: Flask, link: str) -> int:
    """Open a portal link in a new browser and press 'continue'; return the status."""
    url = urlparse(link)
    token = url.query.removeprefix("token=")
    client = app.test_client()
    page = client.get(f"{url.path}?{url.query}")
    assert page.status_code == 200
    match = _CSRF_RE.search(page.get_data(as_text=True))
    assert match
    resp = client.post("/portal/enter", data={"token": token, "csrf_token": match.group(1)})
    return resp.status_code


def test_links_open_the_portal_once(app: Flask, demo: FlaskCliRunner, catalog: None) -> None:
    assert demo.invoke(args=["demo", "seed", "--subjects", "5", "--seed", "1"]).exit_code == 0
    result = demo.invoke(args=["demo", "links", "--count", "2"])
    assert result.exit_code == 0, result.output
    links = result.output.split()
    assert len(links) == 2 and len(set(links)) == 2
    assert all(link.startswith("http://portal.example.com/portal/enter?token=") for link in links)
    assert redeem(app, links[0]) == 302
    assert redeem(app, links[0]) == 410  # used once already
    assert redeem(app, links[1]) == 302


def test_links_without_subjects_fail(demo: FlaskCliRunner, catalog: None) -> None:
    result = demo.invoke(args=["demo", "links"])
    assert result.exit_code == 1 and "no subjects" in result.output


def test_bootstrap_sets_everything_up_once(app: Flask, demo: FlaskCliRunner) -> None:
    from governance.db import get_session

    first = demo.invoke(args=["demo", "bootstrap"])
    assert first.exit_code == 0, first.output
    assert "loaded the default catalog" in first.output
    assert "seeded 1000 subjects" in first.output
    assert "http://portal.example.com/console/login" in first.output
    assert "http://portal.example.com/docs" in first.output
    links = re.findall(r"http://portal\.example\.com/portal/enter\?token=\S+", first.output)
    assert len(links) == 3
    creds = (Path(app.instance_path) / "demo-credentials.txt").read_text()
    assert creds in first.output
    assert first.output.count("[operator demo-dpo]") == 1  # printed once, not twice

    second = demo.invoke(args=["demo", "bootstrap"])
    assert second.exit_code == 0, second.output
    assert "catalog: loaded already" in second.output
    assert "subjects: present already" in second.output
    assert "demo accounts: present already" in second.output
    assert creds in second.output
    with app.app_context():
        db = get_session()
        assert db.scalar(select(func.count()).select_from(Subject)) == 1000
        assert db.scalar(select(func.count()).select_from(Operator)) == 5
        assert db.scalar(select(func.count()).select_from(CatalogVersion)) == 1
    assert redeem(app, links[0]) == 302
