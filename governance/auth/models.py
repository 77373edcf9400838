"""Operators, service API keys and redeemed portal links."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.brands import DEFAULT_BRAND
from governance.db import Base, utcnow


class Operator(Base):
    """A person who signs in to the console with a password and a TOTP second factor."""

    __tablename__ = "operators"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    roles: Mapped[list[str]] = mapped_column(JSON)
    # The one brand this operator works for; None: the whole group (governance.brands).
    brand_id: Mapped[str | None] = mapped_column(ForeignKey("brands.id"))
    # TOTP secret, encrypted under the keyring (never stored in clear).
    totp_secret_wrapped: Mapped[str | None] = mapped_column(String(512))
    totp_enabled_at: Mapped[dt.datetime | None]
    last_totp_step: Mapped[int | None]  # replay protection: a code works once
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    disabled_at: Mapped[dt.datetime | None]


class ApiKey(Base):
    """A service's API key: shown once, stored as a hash, scoped to purposes."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # public key id
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 hex of the secret part
    purposes: Mapped[list[str]] = mapped_column(JSON)
    permissions: Mapped[list[str]] = mapped_column(JSON)
    # A service works for one brand: it sees that brand's subjects only.
    brand_id: Mapped[str] = mapped_column(
        ForeignKey("brands.id"), server_default=DEFAULT_BRAND, default=DEFAULT_BRAND
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("operators.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None]
    last_used_at: Mapped[dt.datetime | None]

    def to_public(self) -> dict[str, Any]:
        """What may be shown about a key after creation (never the secret)."""
        return {
            "id": self.id,
            "name": self.name,
            "brand": self.brand_id,
            "purposes": list(self.purposes),
            "permissions": list(self.permissions),
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


class PortalLinkRedemption(Base):
    """A portal link that has been used: its id may never open a session again."""

    __tablename__ = "portal_link_redemptions"
    __table_args__ = (Index("ix_portal_link_redemptions_subject_id", "subject_id"),)

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40))
    redeemed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
