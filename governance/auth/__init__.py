"""Identity and authentication: operators, service API keys, subjects' portal sessions.

``init_app`` installs actor resolution and permission enforcement ahead of every view.
"""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from governance.auth.actors import Actor, authenticate_and_authorize, current_actor
from governance.auth.permissions import Permission, Role, public, requires

__all__ = ["Actor", "Permission", "Role", "current_actor", "init_app", "public", "requires"]

csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    """Resolve the actor and check permissions before every request."""
    from governance.auth import cli, ratelimit, views
    from governance.auth.actors import record_api_key_use

    csrf.init_app(app)
    ratelimit.init_app(app)
    app.before_request(authenticate_and_authorize)
    app.after_request(record_api_key_use)
    views.init_app(app)
    cli.init_app(app)
