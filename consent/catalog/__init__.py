"""The catalog of profile fields, purposes and privacy-notice versions.

Loaded from a versioned YAML file (:mod:`consent.catalog.loader`, ``governance catalog
load``), read through :mod:`consent.catalog.services` and the ``/api/v1/catalog`` API.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the catalog's API and CLI."""
    from consent.catalog.cli import catalog_group
    from consent.catalog.views import blp
    from governance.api import get_api

    get_api(app).register_blueprint(blp)
    app.cli.add_command(catalog_group)
