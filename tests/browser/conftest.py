"""Browser tests: the app served on a loopback port, driven by Debian's Chromium.

- ``live_server`` (one per module): a fresh SQLite database migrated with ``governance db
  upgrade``, the default catalog and fictional demo customers (``governance demo seed``),
  served by a threaded WSGI server on a free port of 127.0.0.1 in this process; tests
  arrange data with ``live_server.run(work)`` (an app context of its own).
- ``browser`` (one per session): Chromium from ``/usr/bin/chromium`` (Playwright never
  downloads a browser here). Missing Chromium fails these tests, naming what to install
  (``.ci/run`` and ``make test`` install it).
- ``open_page(lang, width, storage_state=None)``: a new browser context, so a new
  session (or the one saved in ``storage_state``), whose ``Accept-Language`` is the
  language's and whose viewport is ``width`` wide.
- ``shoot(page, name)``: a full-page screenshot under ``test-artifacts/screenshots/``
  (git-ignored; ``GOVERNANCE_TEST_ARTIFACTS`` moves it).

The browser tests run in the SQLite pass of ``make test`` only: the pages are the same on
PostgreSQL, whose own pass covers the services beneath them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from governance import create_app
from governance.db import get_engine, get_session

CHROMIUM = "/usr/bin/chromium"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = (
    Path(os.environ.get("GOVERNANCE_TEST_ARTIFACTS") or PROJECT_ROOT / "test-artifacts")
    / "screenshots"
)
#: Phone (the narrowest the portal supports) and desktop widths.
WIDTHS = {"phone": 360, "desktop": 1280}
LOCALES = {"zh": "zh-CN", "en": "en-US"}
#: Fictional demo customers seeded into each server's database.
DEMO_SUBJECTS = 12


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run in the SQLite pass only: deselected (not skipped) in the PostgreSQL pass."""
    if not os.environ.get("GOVERNANCE_TEST_DATABASE_URL"):
        return
    here = Path(__file__).parent
    dropped = [item for item in items if here in Path(str(item.fspath)).parents]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]


@dataclass
class LiveServer:
    """The app, where it listens, and a way to arrange data beside the browser."""

    app: Flask
    url: str

    def run(self, work: Callable[[Any], Any]) -> Any:
        """``work(session)`` in an app context of its own; returns its result."""
        with self.app.app_context():
            return work(get_session())

    def post(self, path: str, token: str, body: dict[str, Any]) -> tuple[int, bytes]:
        """POST ``body`` as JSON to the API with a bearer ``token``: (status, body)."""
        request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), bytes(response.read())


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on a fresh, migrated database with demo data, served on 127.0.0.1."""
    root = tmp_path_factory.mktemp("live")
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    app = create_app(
        {
            "ENV": "testing",
            "INSTANCE_PATH": str(root / "instance"),
            "DATABASE_URL": f"sqlite:///{root / 'governance.sqlite3'}",
            "PUBLIC_BASE_URL": url,
            "AUDIT_CHECKPOINT_ON_SHUTDOWN": False,
            "POLICY_TIMEOUT_MS": 10_000,  # as in tests/conftest.py: no flake on a busy machine
        }
    )
    cli = app.test_cli_runner()
    for args in (
        ["db", "upgrade"],
        ["catalog", "load", "--default"],
        ["demo", "seed", "--subjects", str(DEMO_SUBJECTS), "--workers", "0", "--seed", "7"],
    ):
        result = cli.invoke(args=args)
        assert result.exit_code == 0, (args, result.output)
    server: BaseWSGIServer = make_server("127.0.0.1", port, app, threaded=True, fd=sock.fileno())
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, url)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        sock.close()
        get_engine(app).dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless, for the whole session."""
    if not (Path(CHROMIUM).exists() and shutil.which(CHROMIUM)):
        # A failure, not a skip: a green run must have driven the browser.
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium fonts-noto-cjk")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def open_page(browser: Any, live_server: LiveServer) -> Iterator[Callable[..., Any]]:
    """Return ``open(lang="zh", width="phone")``: a page in a fresh browser context."""
    contexts: list[Any] = []

    def open_(lang: str = "zh", width: str = "phone", storage_state: Any = None) -> Any:
        context = browser.new_context(
            base_url=live_server.url,
            locale=LOCALES[lang],
            viewport={"width": WIDTHS[width], "height": 800},
            accept_downloads=True,
            storage_state=storage_state,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def shoot() -> Callable[[Any, str], Path]:
    """Save a full-page screenshot of ``page`` as ``<name>.png``; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page: Any, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
