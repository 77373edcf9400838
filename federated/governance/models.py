"""Partners, data-sharing agreements, federated runs and the models they produced."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base, utcnow

#: An agreement is drafted, approved by a DPO, and may be revoked; it expires by its dates.
AGREEMENT_STATUSES = ("draft", "approved", "revoked")
RUN_STATUSES = ("refused", "running", "complete", "failed")


class Partner(Base):
    """An organisation that trains with the brand (a bank, another brand)."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    # A business contact of the partner organisation (not a customer's data).
    contact: Mapped[str] = mapped_column(String(256))
    # The SuperNode's public key (PEM): only this node may join runs (with TLS).
    supernode_public_key: Mapped[str] = mapped_column(Text)
    supernode_key_sha256: Mapped[str] = mapped_column(String(64))
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Agreement(Base):
    """A data-sharing agreement for joint modelling with one partner."""

    __tablename__ = "partner_agreements"
    __table_args__ = (
        CheckConstraint(f"status IN {AGREEMENT_STATUSES}", name="status"),
        Index("ix_partner_agreements_partner_id", "partner_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    purpose: Mapped[str] = mapped_column(String(64))  # a joint-modelling purpose
    categories: Mapped[list[str]] = mapped_column(JSON)  # field categories allowed
    fields: Mapped[list[str]] = mapped_column(JSON)  # the fields a run may use
    label_field: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    secagg_required: Mapped[bool] = mapped_column(default=True)
    dp_required: Mapped[bool] = mapped_column(default=True)
    dp_noise_multiplier: Mapped[float] = mapped_column(Float)
    dp_clipping_norm: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="draft")
    approved_by: Mapped[str | None] = mapped_column(String(64))
    approved_at: Mapped[dt.datetime | None]
    # The per-agreement blinding key (HMAC of customer ids), wrapped by the KEK.
    blinding_key_wrapped: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FederatedRun(Base):
    """One run under an agreement: who took part, on what, with what privacy, with what result.

    A refused run is recorded too (with its reasons); a finished one is the model
    registry's entry: its lineage is the agreement, participants, cohort manifest hashes,
    policy bundle hash, privacy parameters, metrics and the model's hash.
    """

    __tablename__ = "federated_runs"
    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status"),
        Index("ix_federated_runs_agreement_id_started_at", "agreement_id", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("partner_agreements.id"))
    mode: Mapped[str] = mapped_column(String(16))  # horizontal / vertical
    status: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    cohort_sizes: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    manifest_sha256: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    policy_bundle_hash: Mapped[str | None] = mapped_column(String(64))
    privacy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
