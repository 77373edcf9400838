"""Data-subject requests (PIPL arts. 44-50), each tracked with a due date and a status.

Access and copy, portability, correction, erasure, restriction, explanation.

:mod:`governance.requests.services` files and works requests, :mod:`.export` builds a
customer's copy (through the guarded read) and :mod:`.explanation` tells how their data
is processed; :mod:`.views` is the API and :mod:`.cli` the ``governance requests``
commands. docs/requests.md describes the whole.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the requests API and the ``governance requests`` commands."""
    from governance.requests import views
    from governance.requests.cli import requests_group

    views.init_app(app)
    app.cli.add_command(requests_group)
