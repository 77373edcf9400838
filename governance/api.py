"""The JSON API's OpenAPI document (flask-smorest), served at /openapi.json and /docs."""

from __future__ import annotations

import http
from typing import Any

from flask import Flask, current_app
from flask_smorest import Api as _SmorestApi
from flask_smorest import Blueprint
from flask_smorest.utils import prepare_response
from marshmallow import Schema, fields

from governance.errors import PROBLEM_JSON

__all__ = ["Api", "Blueprint", "get_api", "init_app"]


class ProblemSchema(Schema):
    """RFC 9457 problem details, as every error of this API is answered."""

    type = fields.String(metadata={"description": "stable URI; documented at that path"})
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    instance = fields.String(metadata={"description": "the request path"})
    request_id = fields.String(metadata={"description": "also in the X-Request-ID header"})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "validation problems: field name -> messages (no values)"},
    )


class Api(_SmorestApi):
    """flask-smorest's Api, with errors left to governance.errors (problem+json)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self) -> None:
        """Leave error handling to :mod:`governance.errors`."""

    def _register_responses(self) -> None:
        """Document every error response as ``application/problem+json``."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if status >= 400:
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Problem details (RFC 9457)", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def init_app(app: Flask) -> None:
    """Create this app's Api; packages add their blueprints through :func:`get_api`."""
    app.config.setdefault("API_TITLE", "Privacy governance platform")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    spec_kwargs: dict[str, Any] = {
        # Every operation in the document needs one of these; public pages are not in it.
        "security": [{"apiKey": []}, {"session": []}],
        "info": {
            "description": (
                "Policy, consent and guarded profile access. Errors are "
                "`application/problem+json` (RFC 9457); each `type` is documented at its "
                "own path (`/problems/...`). Services authenticate with "
                "`Authorization: Bearer gk_<id>.<secret>`; console and portal sessions use "
                "the session cookie and send `X-CSRFToken` on changes."
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
