"""An index on profile values by field and last update, for the retention self-check.

The compliance self-check counts, per catalog field, the values not updated for longer
than the field's retention; with this index each count is one index range instead of a
read of every profile value.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_profile_values_field_updated_at",
        "profile_values",
        ["field", "updated_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_profile_values_field_updated_at", table_name="profile_values")
