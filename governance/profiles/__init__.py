"""The protected profile store: subjects, encrypted fields, blind indexes, the guarded read."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the profile store's API and CLI (``governance profiles ...``)."""
    from governance.profiles import views
    from governance.profiles.cli import profiles_group

    views.init_app(app)
    app.cli.add_command(profiles_group)
