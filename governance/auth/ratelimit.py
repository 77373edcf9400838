"""Moving-window rate limits (the ``limits`` library) for login and second-factor attempts.

Counters live in the storage named by ``GOVERNANCE_RATELIMIT_STORAGE_URI``: memory for one
process, redis or memcached when several gunicorn workers must share them.
"""

from __future__ import annotations

import math
import time

from flask import Flask, current_app
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from governance.errors import ApiError


def init_app(app: Flask) -> None:
    """Create this app's limiter over its configured storage."""
    storage = storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    app.extensions["governance.ratelimiter"] = MovingWindowRateLimiter(storage)


def hit(scope: str, *identifiers: str) -> None:
    """Count one attempt for each identifier; raise 429 when any is over the limit."""
    limiter: MovingWindowRateLimiter = current_app.extensions["governance.ratelimiter"]
    item = parse(current_app.config["LOGIN_RATE_LIMIT"])
    for identifier in identifiers:
        if not limiter.hit(item, scope, identifier):
            reset_at, _remaining = limiter.get_window_stats(item, scope, identifier)
            retry = max(1, math.ceil(reset_at - time.time()))
            raise ApiError(
                "rate-limited",
                "Too many attempts; try again later.",
                headers={"Retry-After": str(retry)},
            )
