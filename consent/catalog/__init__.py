"""The catalog of profile fields, purposes and privacy-notice versions."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the catalog's API and CLI."""
