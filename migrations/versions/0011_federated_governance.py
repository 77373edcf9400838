"""Federated modelling's governance: partners, agreements, runs (and the models they made).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partners",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("contact", sa.String(length=256), nullable=False),
        sa.Column("supernode_public_key", sa.Text(), nullable=False),
        sa.Column("supernode_key_sha256", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_partners_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
    )
    op.create_table(
        "partner_agreements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("partner_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("label_field", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("secagg_required", sa.Boolean(), nullable=False),
        sa.Column("dp_required", sa.Boolean(), nullable=False),
        sa.Column("dp_noise_multiplier", sa.Float(), nullable=False),
        sa.Column("dp_clipping_norm", sa.Float(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.Column("approved_at", governance.db.UTCDateTime(), nullable=True),
        sa.Column("blinding_key_wrapped", sa.String(length=256), nullable=False),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'approved', 'revoked')",
            name=op.f("ck_partner_agreements_status"),
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"],
            ["partners.id"],
            name=op.f("fk_partner_agreements_partner_id_partners"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_agreements")),
    )
    op.create_index(
        "ix_partner_agreements_partner_id", "partner_agreements", ["partner_id"], unique=False
    )
    op.create_table(
        "federated_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("agreement_id", sa.String(length=40), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("cohort_sizes", sa.JSON(), nullable=False),
        sa.Column("manifest_sha256", sa.JSON(), nullable=False),
        sa.Column("policy_bundle_hash", sa.String(length=64), nullable=True),
        sa.Column("privacy", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("model_sha256", sa.String(length=64), nullable=True),
        sa.Column("started_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", governance.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('refused', 'running', 'complete', 'failed')",
            name=op.f("ck_federated_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["agreement_id"],
            ["partner_agreements.id"],
            name=op.f("fk_federated_runs_agreement_id_partner_agreements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_federated_runs")),
    )
    op.create_index(
        "ix_federated_runs_agreement_id_started_at",
        "federated_runs",
        ["agreement_id", "started_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_federated_runs_agreement_id_started_at", table_name="federated_runs")
    op.drop_table("federated_runs")
    op.drop_index("ix_partner_agreements_partner_id", table_name="partner_agreements")
    op.drop_table("partner_agreements")
    op.drop_table("partners")
