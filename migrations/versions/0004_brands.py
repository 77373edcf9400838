"""Brands: each subject, service key and webhook subscription has one; an operator one or all.

Rows older than brands belong to the default brand, which this revision creates (the same
row ``governance.brands`` inserts into a database built from the models). On SQLite the
tables are rebuilt (batch mode) with foreign keys unenforced meanwhile; see env.py.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, whether it may have no brand): an operator without one works for the group.
_TABLES = (
    ("subjects", False),
    ("api_keys", False),
    ("consent_subscriptions", False),
    ("operators", True),
)


def upgrade() -> None:
    op.create_table(
        "brands",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
    )
    op.execute(
        "INSERT INTO brands (id, name, created_at) "
        "VALUES ('default', 'Default brand', CURRENT_TIMESTAMP)"
    )
    for table, nullable in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column(
                    "brand_id",
                    sa.String(length=32),
                    nullable=nullable,
                    server_default=None if nullable else "default",
                )
            )
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_brand_id_brands"), "brands", ["brand_id"], ["id"]
            )


def downgrade() -> None:
    for table, _nullable in reversed(_TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_brand_id_brands"), type_="foreignkey")
            batch_op.drop_column("brand_id")
    op.drop_table("brands")
