"""Federated fixtures: synthetic partners on disk (rows, keys, signed manifests).

Tests marked ``deployment`` start real Flower processes on loopback. They touch no
database, so they run once, in the SQLite pass of ``make test``: the PostgreSQL pass
deselects them (as the root conftest deselects ``postgres`` tests on SQLite).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

with warnings.catch_warnings():
    # typer, which flwr imports, uses click APIs that click 8.5 deprecates (at import time).
    warnings.simplefilter("ignore", DeprecationWarning)
    import flwr.common  # noqa: F401

from federated.demo import Prepared, prepare


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker (the suite runs with --strict-markers)."""
    config.addinivalue_line(
        "markers", "deployment: starts a Flower SuperLink and SuperNodes on loopback"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``deployment`` tests in the PostgreSQL pass (they use no database)."""
    if not os.environ.get("GOVERNANCE_TEST_DATABASE_URL"):
        return
    kept = [item for item in items if item.get_closest_marker("deployment") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.fixture
def horizontal_data(tmp_path: Path) -> Prepared:
    """Two brands with disjoint customers, 1,500 in all, and their signed manifests."""
    return prepare("horizontal", tmp_path, customers=1500, seed=11)


@pytest.fixture
def vertical_data(tmp_path: Path) -> Prepared:
    """The retailer (with labels) and the bank, 1,500 customers, signed manifests."""
    return prepare("vertical", tmp_path, customers=1500, seed=11)
