"""Public endpoints about the service itself: health, problem types, API docs."""

from __future__ import annotations

from pathlib import Path

import swagger_ui_bundle
from flask import Blueprint, Flask, Response, abort, render_template, send_from_directory
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from governance.auth.permissions import public
from governance.db import get_session
from governance.errors import PROBLEM_TYPES

bp = Blueprint("meta", __name__)
docs_bp = Blueprint("docs", __name__)

_SWAGGER_DIR = Path(swagger_ui_bundle.swagger_ui_path)
_SWAGGER_ASSETS = {"swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"}


@bp.get("/healthz")
@public
def healthz() -> tuple[dict[str, object], int]:
    """Report whether the database answers, and the policy bundle in force (its hash)."""
    import policies

    bundle = policies.service().bundle_hash
    try:
        get_session().execute(text("SELECT 1"))
    except SQLAlchemyError:
        return {"status": "unavailable", "database": "unreachable", "policy_bundle": bundle}, 503
    return {"status": "ok", "database": "ok", "policy_bundle": bundle}, 200


@bp.get("/problems/<slug>")
@public
def problem(slug: str) -> str:
    """Document one problem type (the ``type`` URI of problem+json answers)."""
    ptype = PROBLEM_TYPES.get(slug)
    if ptype is None:
        abort(404)
    return render_template("problem.html", problem=ptype)


@docs_bp.get("/docs")
@public
def docs() -> str:
    """Browse the OpenAPI document with the vendored Swagger UI (no CDN)."""
    return render_template("docs.html")


@docs_bp.get("/docs/assets/<name>")
@public
def swagger_asset(name: str) -> Response:
    """Serve Swagger UI's own files from the swagger-ui-bundle wheel."""
    if name not in _SWAGGER_ASSETS:
        abort(404)
    return send_from_directory(_SWAGGER_DIR, name, max_age=86400)


def init_app(app: Flask) -> None:
    """Register health, problem documentation and API docs."""
    app.register_blueprint(bp)
    app.register_blueprint(docs_bp)
