"""RFC 9457 problem details for every API error.

Each kind of failure has a stable ``type`` (a URI path under ``/problems/``, documented at
that address), a ``title``, an HTTP status and a ``detail``. Every problem also carries the
request id, and validation problems name the offending fields (never their values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, json, render_template, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    """One documented kind of problem."""

    slug: str
    status: int
    title: str
    explanation: str

    @property
    def uri(self) -> str:
        """The stable ``type`` URI of this problem."""
        return f"/problems/{self.slug}"


_TYPES = [
    ProblemType("malformed-json", 400, "Malformed JSON", "The request body is not valid JSON."),
    ProblemType("bad-request", 400, "Bad request", "The request cannot be understood."),
    ProblemType(
        "unauthenticated",
        401,
        "Authentication required",
        "Send a valid API key as 'Authorization: Bearer <key>', or sign in.",
    ),
    ProblemType(
        "invalid-credentials",
        401,
        "Invalid credentials",
        "The API key is unknown, revoked or malformed, or the password or code is wrong.",
    ),
    ProblemType(
        "forbidden",
        403,
        "Forbidden",
        "The actor is authenticated but lacks the permission this endpoint needs.",
    ),
    ProblemType(
        "csrf-failed",
        403,
        "CSRF token missing or invalid",
        "Cookie-authenticated requests that change state must carry the CSRF token.",
    ),
    ProblemType(
        "step-up-required",
        403,
        "Recent second factor required",
        "This operation needs a TOTP code entered within the last few minutes.",
    ),
    ProblemType("not-found", 404, "Not found", "No resource or route at this address."),
    ProblemType(
        "method-not-allowed",
        405,
        "Method not allowed",
        "The route exists but does not accept this HTTP method; see the Allow header.",
    ),
    ProblemType("conflict", 409, "Conflict", "The request conflicts with the current state."),
    ProblemType(
        "link-expired-or-used",
        410,
        "Link expired or already used",
        "Portal links are short-lived and work once; ask for a new one.",
    ),
    ProblemType(
        "payload-too-large",
        413,
        "Payload too large",
        "The request body exceeds the configured limit (GOVERNANCE_MAX_BODY_BYTES).",
    ),
    ProblemType(
        "unsupported-media-type",
        415,
        "Unsupported media type",
        "Send request bodies as application/json.",
    ),
    ProblemType(
        "unknown-field",
        422,
        "Unknown field",
        "The body has fields this endpoint does not accept; they are named in 'errors'.",
    ),
    ProblemType(
        "validation-error",
        422,
        "Validation failed",
        "Some fields are missing or invalid; they are named in 'errors'.",
    ),
    ProblemType(
        "audit-entry-refused",
        422,
        "Audit entry refused",
        "The action would have written an audit entry carrying personal information or "
        "malformed content; the detail names where and which kind, never the value. "
        "Nothing was written.",
    ),
    ProblemType(
        "consent-refused",
        422,
        "Consent decision refused",
        "The decision breaks a rule the consent ledger enforces (PIPL); 'reason' names the "
        "rule and 'purposes' the purposes concerned (docs/consent.md). Nothing was written.",
    ),
    ProblemType(
        "rate-limited",
        429,
        "Too many requests",
        "Too many attempts from this client; wait and retry (see Retry-After).",
    ),
    ProblemType(
        "internal-error",
        500,
        "Internal error",
        "The server failed; nothing was changed. Quote the request id when reporting it.",
    ),
    ProblemType(
        "service-unavailable",
        503,
        "Service unavailable",
        "A dependency (database, policy engine) is unreachable; nothing was changed.",
    ),
]
PROBLEM_TYPES: dict[str, ProblemType] = {t.slug: t for t in _TYPES}
_BY_STATUS: dict[int, ProblemType] = {}
for _t in _TYPES:
    _BY_STATUS.setdefault(_t.status, _t)


class ApiError(Exception):
    """An error a service or view raises to answer with a problem document."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        members: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = PROBLEM_TYPES[slug]
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.members = members or {}  # extension members of the problem document


def problem_response(
    slug: str,
    detail: str,
    *,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    status: int | None = None,
    members: dict[str, Any] | None = None,
) -> Response:
    """Build an ``application/problem+json`` response (``members``: RFC 9457 extensions)."""
    ptype = PROBLEM_TYPES[slug]
    body: dict[str, Any] = {
        "type": ptype.uri,
        "title": ptype.title,
        "status": status or ptype.status,
        "detail": detail,
        "instance": request.path if request else None,
        "request_id": g.get("request_id"),
    }
    if errors:
        body["errors"] = errors
    for name, value in (members or {}).items():
        body.setdefault(name, value)
    resp = current_app.response_class(
        json.dumps(body), status=status or ptype.status, mimetype=PROBLEM_JSON
    )
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp


def _wants_html() -> bool:
    """True for browser page requests (console, portal), which get an HTML error page."""
    if request.path.startswith(("/api/", "/openapi.json", "/healthz")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", PROBLEM_JSON, "text/html"])
    return best == "text/html"


def _flatten_validation(messages: Any) -> dict[str, Any]:
    """Turn webargs' ``{"json": {...}, "query": {...}}`` into one field -> messages map."""
    if not isinstance(messages, dict):
        return {"_body": messages}
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, dict) and location in {"json", "query", "form", "headers", "files"}:
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def _only_unknown(errors: dict[str, Any]) -> bool:
    def leaf_unknown(value: Any) -> bool:
        if isinstance(value, list):
            return bool(value) and all(v == "Unknown field." for v in value)
        if isinstance(value, dict):
            return bool(value) and all(leaf_unknown(v) for v in value.values())
        return False

    return bool(errors) and all(leaf_unknown(v) for v in errors.values())


def handle_http_exception(exc: HTTPException) -> Response:
    """Render any HTTP error as problem+json (or an HTML page for browser pages)."""
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # type: ignore[attr-defined]
    if _wants_html():
        return _html_error(status, exc.description or exc.name)
    if status == 422:
        errors = _flatten_validation(data.get("messages") or data.get("errors") or {})
        slug = "unknown-field" if _only_unknown(errors) else "validation-error"
        fields = ", ".join(sorted(errors))
        return problem_response(
            slug, f"Invalid request fields: {fields}.", errors=errors, headers=headers
        )
    if status == 400 and data.get("messages"):
        # webargs reports an undecodable body this way when it parses first.
        return problem_response("malformed-json", "The request body is not valid JSON.")
    ptype = _BY_STATUS.get(status)
    if ptype is None:
        ptype = PROBLEM_TYPES["bad-request" if status < 500 else "internal-error"]
    detail = data.get("message") or exc.description or ptype.explanation
    if status == 404:
        detail = f"No route or resource at {request.path}."
    elif status == 405:
        detail = f"{request.method} is not allowed on {request.path}."
    elif status == 413:
        limit = current_app.config["MAX_BODY_BYTES"]
        detail = f"The request body exceeds the limit of {limit} bytes."
    elif status >= 500:
        detail = ptype.explanation
    return problem_response(ptype.slug, detail, headers=headers, status=status)


def handle_api_error(exc: ApiError) -> Response:
    """Render an :class:`ApiError`."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    if _wants_html():
        return _html_error(exc.problem.status, exc.detail)
    return problem_response(
        exc.problem.slug, exc.detail, errors=exc.errors, headers=exc.headers, members=exc.members
    )


def handle_unexpected(exc: Exception) -> Response:
    """Log an unexpected failure (type only, never values) and answer 500."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    log.error("unhandled error", extra={"error_type": type(exc).__name__})
    if _wants_html():
        return _html_error(500, PROBLEM_TYPES["internal-error"].explanation)
    return problem_response("internal-error", PROBLEM_TYPES["internal-error"].explanation)


def _html_error(status: int, detail: str) -> Response:
    body = render_template(
        "error.html", status=status, detail=detail, request_id=g.get("request_id")
    )
    return current_app.response_class(body, status=status, mimetype="text/html")


def init_app(app: Flask) -> None:
    """Register the error handlers on ``app``."""
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ApiError, handle_api_error)
    app.register_error_handler(Exception, handle_unexpected)
