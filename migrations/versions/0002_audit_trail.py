"""Audit trail: entries and checkpoints, append-only by trigger.

The trigger SQL is written out here (not imported from audit.ddl) so that this revision
stays what it was when later code changes; tests/test_migrations.py checks that the
triggers it makes equal the ones the models make.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 17:59:01.648511
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# INTEGER on SQLite makes the primary key the rowid: rows stored in key order, no extra index.
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", _SEQ, autoincrement=False, nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", sa.String(length=27), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(length=64), nullable=False),
        sa.CheckConstraint("tree_size >= 0", name=op.f("ck_audit_checkpoints_tree_size")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_audit_checkpoints_tree_size")),
    )
    op.create_table(
        "audit_entries",
        sa.Column("seq", _SEQ, autoincrement=False, nullable=False),
        sa.Column("logged_at", sa.String(length=27), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=True),
        sa.Column("purpose", sa.String(length=64), nullable=True),
        sa.Column("resource", sa.String(length=128), nullable=True),
        sa.Column("decision", sa.String(length=8), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("chain_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('allow', 'deny', 'error')", name=op.f("ck_audit_entries_decision")
        ),
        sa.CheckConstraint("seq >= 0", name=op.f("ck_audit_entries_seq")),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_entries")),
    )
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_entries_actor_seq", ["actor_type", "actor_id", "seq"], unique=False
        )
        batch_op.create_index("ix_audit_entries_purpose_seq", ["purpose", "seq"], unique=False)
        batch_op.create_index("ix_audit_entries_subject_seq", ["subject_id", "seq"], unique=False)

    for statement in _guards(op.get_context().dialect.name):
        op.execute(statement)


_TABLES = ("audit_entries", "audit_checkpoints")

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: the audit trail is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _guards(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{op_name} on {table} refused: "
            "the audit trail is append-only'); END"
            for table in _TABLES
            for op_name in ("UPDATE", "DELETE")
        ]
    out = [_PG_FUNCTION]
    for table in _TABLES:
        out += [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()",
        ]
    return out


def downgrade() -> None:
    # Dropping the tables drops their triggers; the PostgreSQL function goes too.
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entries_subject_seq")
        batch_op.drop_index("ix_audit_entries_purpose_seq")
        batch_op.drop_index("ix_audit_entries_actor_seq")

    op.drop_table("audit_entries")
    op.drop_table("audit_checkpoints")
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
