"""Data-subject requests (PIPL arts. 44-50): ``subject_requests`` and its queue indexes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("requested_by_type", sa.String(length=16), nullable=False),
        sa.Column("requested_by_id", sa.String(length=64), nullable=False),
        sa.Column("handled_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("due_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", governance.db.UTCDateTime(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('access', 'portability', 'correction', 'erasure', 'restriction', "
            "'restriction_lift', 'explanation')",
            name=op.f("ck_subject_requests_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('open', 'in_progress', 'completed', 'rejected')",
            name=op.f("ck_subject_requests_status"),
        ),
        sa.CheckConstraint(
            "channel IN ('portal', 'mini_program', 'wecom', 'store', 'api')",
            name=op.f("ck_subject_requests_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["brand_id"], ["brands.id"], name=op.f("fk_subject_requests_brand_id_brands")
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_subject_requests_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_requests")),
    )
    op.create_index(
        "ix_subject_requests_status_due_at",
        "subject_requests",
        ["status", "due_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_subject_requests_brand_id_status_due_at",
        "subject_requests",
        ["brand_id", "status", "due_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_subject_requests_subject_id_created_at",
        "subject_requests",
        ["subject_id", "created_at", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_subject_requests_subject_id_created_at", table_name="subject_requests")
    op.drop_index("ix_subject_requests_brand_id_status_due_at", table_name="subject_requests")
    op.drop_index("ix_subject_requests_status_due_at", table_name="subject_requests")
    op.drop_table("subject_requests")
