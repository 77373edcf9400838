"""Subjects' wrapped data keys move to the key vault, a database of their own.

Erasure destroys a subject's data key; a copy of the profile database taken before it
must not hold the key (governance.profiles.vault). This revision copies every row of
``subject_keys`` into the vault (``GOVERNANCE_KEY_VAULT_URL``, passed in by
``governance db upgrade`` as the ``key_vault_url`` option) and drops the table here. Rows
already in the vault are left as they are. With rows to move and no vault named, it stops
before changing anything. The downgrade copies them back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 03:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

import governance.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("subject_id", "key_version", "wrapped_key", "created_at")


def _keys_table() -> sa.Table:
    return sa.Table(
        "subject_keys",
        sa.MetaData(),
        sa.Column("subject_id", sa.String(length=40), primary_key=True),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.String(length=256), nullable=False),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
    )


def _vault() -> sa.Engine | None:
    url = context.config.get_main_option("key_vault_url")
    return sa.create_engine(url) if url else None


def upgrade() -> None:
    keys = _keys_table()
    rows = [dict(r._mapping) for r in op.get_bind().execute(sa.select(keys))]
    if rows:
        vault = _vault()
        if vault is None:
            raise RuntimeError(
                "subject_keys holds data keys to move into the key vault, and no vault is "
                "named: run 'governance db upgrade' (it passes GOVERNANCE_KEY_VAULT_URL)"
            )
        with vault.begin() as conn:
            keys.create(conn, checkfirst=True)
            present = set(conn.scalars(sa.select(keys.c.subject_id)))
            missing = [r for r in rows if r["subject_id"] not in present]
            if missing:
                conn.execute(sa.insert(keys), missing)
        vault.dispose()
    op.drop_table("subject_keys")


def downgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("wrapped_key", sa.String(length=256), nullable=False),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subject_id"],
            ["subjects.id"],
            name=op.f("fk_subject_keys_subject_id_subjects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subject_id", name=op.f("pk_subject_keys")),
    )
    vault = _vault()
    if vault is None:
        return
    keys = _keys_table()
    with vault.connect() as conn:
        if not sa.inspect(conn).has_table("subject_keys"):
            return
        rows = [dict(r._mapping) for r in conn.execute(sa.select(keys))]
    vault.dispose()
    subjects = {r[0] for r in op.get_bind().execute(sa.text("SELECT id FROM subjects"))}
    rows = [r for r in rows if r["subject_id"] in subjects]
    if rows:
        op.get_bind().execute(sa.insert(keys), rows)
