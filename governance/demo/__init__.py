"""Demo tooling: fictional customers, demo accounts, portal links (development only)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register ``governance demo`` (its commands refuse to run in production)."""
    from governance.demo.cli import demo_group

    app.cli.add_command(demo_group)
