"""The protected profile store: subjects, encrypted fields, blind indexes."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the profile store's CLI (``governance profiles ...``)."""
    from governance.profiles.cli import profiles_group

    app.cli.add_command(profiles_group)
