"""Cohort exports: each export, the subjects it revealed, and an index to walk a purpose.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "profile_exports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("filter", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("candidates", sa.BigInteger(), nullable=False),
        sa.Column("subjects", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("started_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", governance.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'failed')", name=op.f("ck_profile_exports_status")
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_profile_exports_brand_id_brands")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_exports")),
    )
    op.create_table(
        "export_subjects",
        sa.Column("export_id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["export_id"],
            ["profile_exports.id"],
            name=op.f("fk_export_subjects_export_id_profile_exports"),
        ),
        sa.PrimaryKeyConstraint("export_id", "subject_id", name=op.f("pk_export_subjects")),
    )
    op.create_index(
        "ix_export_subjects_subject_id", "export_subjects", ["subject_id"], unique=False
    )
    op.create_index(
        "ix_consent_states_purpose_subject_id",
        "consent_states",
        ["purpose", "subject_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_consent_states_purpose_subject_id", table_name="consent_states")
    op.drop_index("ix_export_subjects_subject_id", table_name="export_subjects")
    op.drop_table("export_subjects")
    op.drop_table("profile_exports")
