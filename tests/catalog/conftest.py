"""Catalog test helpers: the default document, a loaded default catalog, a table snapshot."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from consent.catalog.loader import DEFAULT_CATALOG_PATH
from consent.catalog.models import CatalogField, CatalogVersion, PrivacyNotice, Purpose
from governance.db import get_engine

_DEFAULT: dict[str, Any] = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))

CatalogState = Callable[[], dict[str, Any]]


@pytest.fixture
def default_document() -> dict[str, Any]:
    """A fresh copy of the default catalog document, free to change."""
    return copy.deepcopy(_DEFAULT)


@pytest.fixture
def next_document(default_document: dict[str, Any]) -> dict[str, Any]:
    """The default document under the next catalog version (edit it, then load it)."""
    default_document["version"] = "2026.12.1"
    return default_document


@pytest.fixture
def catalog_state(app: Flask) -> CatalogState:
    """Every row of every catalog table, read on a connection of its own."""

    def state() -> dict[str, Any]:
        with get_engine(app).connect() as conn:
            return {
                model.__tablename__: sorted(
                    tuple(map(repr, row)) for row in conn.execute(select(model.__table__))
                )
                for model in (CatalogVersion, CatalogField, Purpose, PrivacyNotice)
            }

    return state
