"""Browser pages: the DPO console (operators) and the consent portal (customers)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the console and the portal."""
    from governance.web import console, portal

    app.register_blueprint(console.bp)
    app.register_blueprint(portal.bp)
