"""Consent checks read only the key of consent_states on PostgreSQL (index-only scans).

The primary key of consent_states INCLUDEs the columns a check reads. SQLite has no
INCLUDE: nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 23:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out, not imported: this revision stays what it was when the model changes.
_INCLUDE = "status, tier, notice_version, notice_date, by_guardian, valid_until, changed_at"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE consent_states DROP CONSTRAINT pk_consent_states, "
        "ADD CONSTRAINT pk_consent_states PRIMARY KEY (subject_id, purpose) "
        f"INCLUDE ({_INCLUDE})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE consent_states DROP CONSTRAINT pk_consent_states, "
        "ADD CONSTRAINT pk_consent_states PRIMARY KEY (subject_id, purpose)"
    )
