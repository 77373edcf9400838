"""Console pages: compliance (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_compliance", __name__, url_prefix="/console")
