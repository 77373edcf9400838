"""The consent ledger: catalog of purposes and tiers, events, state, receipts, propagation.

:func:`init_app` hooks the ledger's API and commands into an app; the catalog
(:mod:`consent.catalog`) hooks itself in separately.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the consent API, the receipt keys, the webhooks and the commands."""
    from consent import (
        cli,
        receipt_keys,  # noqa: F401 - attaches rotate-receipt-key
        receipts_views,
        views,
        webhooks,
    )
    from governance.api import get_api

    get_api(app).register_blueprint(views.blp)
    receipts_views.init_app(app)
    webhooks.init_app(app)
    cli.init_app(app)  # the group, with receipt_keys' and the webhooks' commands attached
