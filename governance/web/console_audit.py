"""Console pages: audit (being built)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("console_audit", __name__, url_prefix="/console")
