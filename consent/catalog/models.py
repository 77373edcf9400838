"""Catalog tables: profile fields, purposes, privacy-notice versions, loaded catalog versions.

The catalog is data, loaded from a versioned YAML file by ``governance catalog load``.
These tables hold the current catalog; ``catalog_versions`` keeps every loaded document
(with its hash) so that what applied at any time can be shown.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base, utcnow


class CatalogVersion(Base):
    """One loaded catalog document."""

    __tablename__ = "catalog_versions"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    loaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CatalogField(Base):
    """A profile field: what it is, the consent tier and classification it carries."""

    __tablename__ = "catalog_fields"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))  # consent.tiers.Tier
    classification: Mapped[str] = mapped_column(String(16))  # public/internal/sensitive/core
    pipl_sensitive: Mapped[bool] = mapped_column(Boolean)
    free_text: Mapped[bool] = mapped_column(Boolean)
    identifier: Mapped[bool] = mapped_column(Boolean)  # has a blind index
    value_type: Mapped[str] = mapped_column(String(16))  # string/integer/number/list/date
    retention_days: Mapped[int]
    label_zh: Mapped[str] = mapped_column(String(128))
    label_en: Mapped[str] = mapped_column(String(128))
    # Free text only: what the PII guard does on write with PII the field may not hold
    # (reject / mask), and the entity types it may hold.
    pii_on_write: Mapped[str] = mapped_column(String(8), server_default="reject")
    pii_allowed: Mapped[list[str]] = mapped_column(JSON, default=list)
    catalog_version: Mapped[str] = mapped_column(ForeignKey("catalog_versions.version"))


class Purpose(Base):
    """A use of personal information, with its legal basis and consent requirements."""

    __tablename__ = "purposes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    legal_basis: Mapped[str] = mapped_column(String(32))
    required_tier: Mapped[str] = mapped_column(String(16))
    separate_consent: Mapped[bool] = mapped_column(Boolean)
    separate_consent_reason: Mapped[str | None] = mapped_column(String(32))
    optional: Mapped[bool] = mapped_column(Boolean)
    recipient: Mapped[str | None] = mapped_column(String(128))
    recipient_country: Mapped[str | None] = mapped_column(String(2))
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    explanation_zh: Mapped[str] = mapped_column(Text)
    explanation_en: Mapped[str] = mapped_column(Text)
    catalog_version: Mapped[str] = mapped_column(ForeignKey("catalog_versions.version"))


class PrivacyNotice(Base):
    """A privacy-notice version as shown to customers, identified by its text hash."""

    __tablename__ = "privacy_notices"

    version: Mapped[str] = mapped_column(String(32), primary_key=True)
    text_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    text_zh: Mapped[str] = mapped_column(Text)
    text_en: Mapped[str] = mapped_column(Text)
    effective_date: Mapped[dt.date] = mapped_column(Date)
    material_change: Mapped[bool] = mapped_column(Boolean)
    purposes: Mapped[list[str]] = mapped_column(JSON)
    catalog_version: Mapped[str] = mapped_column(ForeignKey("catalog_versions.version"))
