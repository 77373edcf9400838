"""The governance of federated runs: partners, data-sharing agreements, runs and the registry.

Partners are registered with their SuperNode's public key; an agreement names a
joint-modelling purpose of the catalog, the field categories and fields it allows, its
validity, and the privacy it requires (secure aggregation, differential privacy). A DPO
approves it with a fresh second factor. No run starts without an approved, unexpired
agreement whose partners' keys are registered; every run is audited, and its model is
registered with its lineage (:mod:`federated.governance.services`).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the partners and agreements API and ``governance federated``'s commands."""
    from federated import cli
    from federated.governance import cli as governance_cli  # noqa: F401 - adds its commands
    from federated.governance import views

    views.init_app(app)
    cli.init_app(app)
