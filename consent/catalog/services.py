"""Reading the loaded catalog: the current version, fields, purposes, notices.

The current catalog is the highest loaded version (versions only move forward, see
:mod:`consent.catalog.loader`). These functions receive the session and only read.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from consent.catalog.models import CatalogField, CatalogVersion, PrivacyNotice, Purpose
from consent.catalog.schema import version_key

__all__ = [
    "CurrentCatalog",
    "current_catalog",
    "get_notice",
    "list_fields",
    "list_notices",
    "list_purposes",
]


@dataclass(frozen=True)
class CurrentCatalog:
    """The current catalog version, its document hash and what it holds."""

    version: str
    sha256: str
    loaded_at: dt.datetime
    fields: int
    purposes: int
    notices: int


def current_catalog(db: Session) -> CurrentCatalog | None:
    """The current (highest loaded) catalog version, or None before the first load."""
    rows = db.execute(
        select(CatalogVersion.version, CatalogVersion.sha256, CatalogVersion.loaded_at)
    ).all()
    if not rows:
        return None
    version, sha256, loaded_at = max(rows, key=lambda row: version_key(row[0]))

    def count(model: type[CatalogField] | type[Purpose] | type[PrivacyNotice]) -> int:
        return db.scalar(select(func.count()).select_from(model)) or 0

    return CurrentCatalog(
        version=version,
        sha256=sha256,
        loaded_at=loaded_at,
        fields=count(CatalogField),
        purposes=count(Purpose),
        notices=count(PrivacyNotice),
    )


def list_fields(db: Session) -> list[CatalogField]:
    """Every catalogued profile field, by name."""
    return list(db.scalars(select(CatalogField).order_by(CatalogField.name)))


def list_purposes(db: Session) -> list[Purpose]:
    """Every purpose, by id."""
    return list(db.scalars(select(Purpose).order_by(Purpose.id)))


def list_notices(db: Session, *, with_text: bool = False) -> list[PrivacyNotice]:
    """Every privacy-notice version, oldest first; texts are loaded only if asked for."""
    stmt = select(PrivacyNotice).order_by(PrivacyNotice.effective_date, PrivacyNotice.version)
    if not with_text:
        stmt = stmt.options(
            defer(PrivacyNotice.text_zh, raiseload=True),
            defer(PrivacyNotice.text_en, raiseload=True),
        )
    return list(db.scalars(stmt))


def get_notice(db: Session, version: str) -> PrivacyNotice | None:
    """One privacy-notice version with its texts, or None."""
    return db.get(PrivacyNotice, version)
