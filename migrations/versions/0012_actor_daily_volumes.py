"""Each actor's counts of the day (decisions and reads, exported records) for the policies.

Reading today's volume was a count over the actor's newest audit entries, which grew with
every read of the day; it is now one row per actor and day, incremented as work is audited.
Counts start at zero from this revision on (today's earlier work is not recounted).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "actor_daily_volumes",
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.BigInteger(), nullable=False),
        sa.Column("records", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "actor_type", "actor_id", "day", name=op.f("pk_actor_daily_volumes")
        ),
    )


def downgrade() -> None:
    op.drop_table("actor_daily_volumes")
