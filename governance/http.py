"""Request hygiene and response headers shared by every endpoint.

Before a view runs, a body sent to the JSON API must fit the size limit (413), be declared
``application/json`` (415) and parse (400): each refusal happens before any view or
service touches the database. Every response carries the security headers.
"""

from __future__ import annotations

from flask import Flask, Response, request
from werkzeug.exceptions import BadRequest

from governance.errors import problem_response

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _is_api_request() -> bool:
    return request.path.startswith("/api/")


def check_body() -> Response | None:
    """Refuse oversized, non-JSON or undecodable bodies sent to the API."""
    limit = int(request.max_content_length or 0)
    length = request.content_length
    if limit and length is not None and length > limit:
        return problem_response(
            "payload-too-large", f"The request body exceeds the limit of {limit} bytes."
        )
    if not _is_api_request() or request.method not in _BODY_METHODS:
        return None
    has_body = bool(length) or request.headers.get("Transfer-Encoding") == "chunked"
    if not has_body:
        return None
    if request.mimetype != "application/json":
        return problem_response(
            "unsupported-media-type",
            f"Request bodies must be application/json, not {request.mimetype or 'unset'}.",
        )
    try:
        request.get_json(force=False, silent=False)
    except BadRequest:
        return problem_response("malformed-json", "The request body is not valid JSON.")
    return None


def add_security_headers(response: Response) -> Response:
    """Add the security headers, and forbid caching of anything but static files."""
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    if request.endpoint not in {"static", "docs.swagger_asset"}:
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    """Install the body checks and the response headers."""
    app.before_request(check_body)
    app.after_request(add_security_headers)
