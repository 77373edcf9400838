"""Browser pages: the DPO console (operators) and the consent portal (customers).

Shared by both: the translations (:mod:`governance.i18n`), the language switch and the
form helpers (:mod:`governance.web.common`), ``base.html`` and ``static/style.css``.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the translations, the shared helpers, the console and the portal."""
    from governance import i18n
    from governance.web import (
        common,
        console,
        console_audit,
        console_charts,
        console_compliance,
        labels,
        portal,
    )

    i18n.init_app(app)
    common.init_app(app)
    app.jinja_env.globals.update(
        label=labels.label, labels_of=labels.labels_of, reader_text=labels.reader_text
    )
    app.jinja_env.filters["role_label"] = lambda role: labels.label("role", role)
    app.jinja_env.globals.update(
        console_nav=console.console_nav, verification_alert=console.verification_alert
    )
    app.register_blueprint(console.bp)
    app.register_blueprint(console_audit.bp)
    app.register_blueprint(console_charts.bp)
    app.register_blueprint(console_compliance.bp)
    app.register_blueprint(portal.bp)
