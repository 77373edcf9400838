"""Console pages: charts (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_charts", __name__, url_prefix="/console")
