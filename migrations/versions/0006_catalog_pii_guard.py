"""Catalog fields say what the PII guard does with their free text.

``pii_on_write``: a free-text value holding PII the field may not hold is refused
(``reject``, the default for every existing field) or stored with it masked (``mask``);
``pii_allowed``: the PII entity types the field may hold (none for existing fields).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("catalog_fields") as batch:
        batch.add_column(
            sa.Column("pii_on_write", sa.String(length=8), server_default="reject", nullable=False)
        )
        batch.add_column(sa.Column("pii_allowed", sa.JSON(), server_default="[]", nullable=False))
    # The default filled the existing rows; new rows get theirs from the application (a JSON
    # default cannot be compared on PostgreSQL: json has no equality operator).
    with op.batch_alter_table("catalog_fields") as batch:
        batch.alter_column("pii_allowed", server_default=None, existing_type=sa.JSON())


def downgrade() -> None:
    with op.batch_alter_table("catalog_fields") as batch:
        batch.drop_column("pii_allowed")
        batch.drop_column("pii_on_write")
