"""The JSON API's OpenAPI document (flask-smorest), served at /openapi.json and /docs."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app
from flask_smorest import Api as _SmorestApi
from flask_smorest import Blueprint

__all__ = ["Api", "Blueprint", "get_api", "init_app"]


class Api(_SmorestApi):
    """flask-smorest's Api, with errors left to governance.errors (problem+json)."""

    def _register_error_handlers(self) -> None:
        """Leave error handling to :mod:`governance.errors`."""


def init_app(app: Flask) -> None:
    """Create this app's Api; packages add their blueprints through :func:`get_api`."""
    app.config.setdefault("API_TITLE", "Privacy governance platform")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    spec_kwargs: dict[str, Any] = {
        "info": {
            "description": (
                "Policy, consent and guarded profile access. Errors are "
                "application/problem+json (RFC 9457); see /problems/<type>. "
                "Services authenticate with 'Authorization: Bearer <API key>'."
            )
        },
    }
    api = Api(app, spec_kwargs=spec_kwargs)
    api.spec.components.security_scheme(
        "apiKey", {"type": "http", "scheme": "bearer", "description": "Service API key"}
    )
    api.spec.components.security_scheme(
        "session",
        {
            "type": "apiKey",
            "in": "cookie",
            "name": "governance_session",
            "description": "Console or portal session (send X-CSRFToken on changes)",
        },
    )
    app.extensions["governance.api"] = api


def get_api(app: Flask | None = None) -> Api:
    """Return the app's Api."""
    api: Api = (app or current_app).extensions["governance.api"]
    return api
