"""Structured JSON logs with the request id, and the request id response header.

A request id comes from a well-formed incoming ``X-Request-ID`` or is generated; it is
echoed in the response header, attached to every log line written while the request runs
and to every problem document. Log records carry only what the code passes explicitly:
messages are constant strings and ``extra`` values are ids and counts, never PII or
secrets (a test greps captured logs for secrets). As a second line of defence, the
message and every string among the extras go through the PII detector
(:mod:`governance.pii`) and what it finds is masked before the line is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
import uuid
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_STANDARD_ATTRS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_UNSCANNED = ("ts", "level", "logger")
_WITHHELD = "[withheld: logged while scanning a log line for PII]"
_scanning = threading.local()


def _scrub(value: Any) -> Any:
    """``value`` with the PII in its strings masked (non-JSON values as their ``str``)."""
    from governance import pii

    if isinstance(value, str):
        return pii.mask(value, pii.analyze(value))
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    return _scrub(str(value))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one JSON line."""
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            payload["request_id"] = g.get("request_id")
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if getattr(_scanning, "active", False):
            # Logged by the detector itself while it scans another line: this one cannot
            # be scanned in turn, so only its time, level and origin are written.
            payload = {key: payload[key] for key in _UNSCANNED} | {"message": _WITHHELD}
        else:
            _scanning.active = True
            try:
                payload = {
                    key: value if key in _UNSCANNED else _scrub(value)
                    for key, value in payload.items()
                }
            finally:
                _scanning.active = False
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it was raised, not its message: messages of
            # driver errors can quote bound parameters, which may hold PII.
            payload["exc_type"] = record.exc_info[0].__name__
        return json.dumps(payload, default=str, ensure_ascii=False)


JsonFormatter.converter = time.gmtime


def configure_logging(level: str) -> None:
    """Send the root logger's records to stderr as JSON lines."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    # werkzeug's access log would print full URLs, which can hold one-time portal tokens.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _assign_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _echo_request_id(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    started = g.get("request_started")
    if started is not None:
        logging.getLogger("governance.request").info(
            "request",
            extra={
                "method": request.method,
                "endpoint": request.endpoint,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    return response


def init_app(app: Flask) -> None:
    """Assign request ids before anything else runs and echo them in every response."""
    configure_logging(app.config["LOG_LEVEL"])
    app.before_request_funcs.setdefault(None, []).insert(0, _assign_request_id)
    app.after_request(_echo_request_id)
