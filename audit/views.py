"""Audit API (placeholder until the views land)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the audit API."""
