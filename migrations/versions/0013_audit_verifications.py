"""Verification runs, so the console and the self-check find the last result at once.

Each run stays an ``audit.verify`` entry in the log too; earlier runs, recorded only
there, are not copied (the console shows runs from this revision on).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_verifications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("started_at", sa.String(length=27), nullable=False),
        sa.Column("finished_at", sa.String(length=27), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("since_checkpoint", sa.BigInteger(), nullable=True),
        sa.Column("entries_checked", sa.BigInteger(), nullable=False),
        sa.Column("checkpoints_checked", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=True),
        sa.Column("failure_check", sa.String(length=32), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("failure_entry", sa.BigInteger(), nullable=True),
        sa.Column("failure_checkpoint", sa.BigInteger(), nullable=True),
        sa.Column("audit_seq", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_verifications")),
    )


def downgrade() -> None:
    op.drop_table("audit_verifications")
