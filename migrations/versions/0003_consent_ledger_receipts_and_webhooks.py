"""Consent ledger (events, append-only by trigger, and states), webhook subscriptions, outbox.

Receipts live on their event rows. The trigger SQL is written out here, as in 0002, so this
revision stays what it was; tests/test_migrations.py checks that the triggers it makes
equal the ones the models make.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 22:09:00.354432
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import governance.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("notice_version", sa.String(length=32), nullable=True),
        sa.Column("notice_date", sa.Date(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("acted_by", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=64), nullable=False),
        sa.Column("evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("guardian_evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("behalf_evidence_sha256", sa.String(length=64), nullable=True),
        sa.Column("valid_until", governance.db.UTCDateTime(), nullable=True),
        sa.Column("occurred_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("receipt_id", sa.String(length=40), nullable=True),
        sa.Column("receipt_jws", sa.Text(), nullable=True),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "acted_by IN ('subject', 'guardian', 'operator', 'service')",
            name=op.f("ck_consent_events_acted_by"),
        ),
        sa.CheckConstraint(
            "channel IN ('portal', 'mini_program', 'wecom', 'store', 'api')",
            name=op.f("ck_consent_events_channel"),
        ),
        sa.CheckConstraint(
            "kind IN ('grant', 'withdraw', 'refuse', 'expire', 'reconsent_required')",
            name=op.f("ck_consent_events_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_consent_events_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
        sa.UniqueConstraint("receipt_id", name=op.f("uq_consent_events_receipt_id")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index("ix_consent_events_subject_id", ["subject_id", "id"], unique=False)

    op.create_table(
        "consent_states",
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=True),
        sa.Column("notice_version", sa.String(length=32), nullable=True),
        sa.Column("notice_date", sa.Date(), nullable=True),
        sa.Column("by_guardian", sa.Boolean(), nullable=False),
        sa.Column("valid_until", governance.db.UTCDateTime(), nullable=True),
        sa.Column("changed_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('granted', 'withdrawn', 'refused', 'expired', 'reconsent_required')",
            name=op.f("ck_consent_states_status"),
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_consent_states_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("subject_id", "purpose", name=op.f("pk_consent_states")),
    )
    op.create_table(
        "consent_subscriptions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("secret_wrapped", sa.String(length=256), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("deactivated_at", governance.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["operators.id"],
            name=op.f("fk_consent_subscriptions_created_by_operators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_subscriptions")),
    )
    op.create_table(
        "consent_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("subscription_id", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=40), nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_attempt_at", governance.db.UTCDateTime(), nullable=True),
        sa.Column("last_status", sa.SmallInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("created_at", governance.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", governance.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead', 'discarded')",
            name=op.f("ck_consent_outbox_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["consent_events.id"],
            name=op.f("fk_consent_outbox_event_id_consent_events"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["consent_subscriptions.id"],
            name=op.f("fk_consent_outbox_subscription_id_consent_subscriptions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_outbox")),
        sa.UniqueConstraint(
            "subscription_id", "event_id", name="uq_consent_outbox_subscription_event"
        ),
    )
    with op.batch_alter_table("consent_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_consent_outbox_ordering",
            ["subscription_id", "subject_id", "status", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_consent_outbox_status_due", ["status", "next_attempt_at"], unique=False
        )

    for statement in _guards(op.get_context().dialect.name):
        op.execute(statement)


_MESSAGE = "the consent ledger is append-only"
_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION consent_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % refused: {_MESSAGE}', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def _guards(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER consent_events_no_{op_name.lower()} BEFORE {op_name} ON "
            f"consent_events BEGIN SELECT RAISE(ABORT, '{op_name} on consent_events refused: "
            f"{_MESSAGE}'); END"
            for op_name in ("UPDATE", "DELETE")
        ]
    return [
        _PG_FUNCTION,
        "CREATE TRIGGER consent_events_no_change BEFORE UPDATE OR DELETE ON consent_events "
        "FOR EACH ROW EXECUTE FUNCTION consent_refuse_change()",
        "CREATE TRIGGER consent_events_no_truncate BEFORE TRUNCATE ON consent_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION consent_refuse_change()",
    ]


def downgrade() -> None:
    with op.batch_alter_table("consent_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_outbox_status_due")
        batch_op.drop_index("ix_consent_outbox_ordering")

    op.drop_table("consent_outbox")
    op.drop_table("consent_subscriptions")
    op.drop_table("consent_states")
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.drop_index("ix_consent_events_subject_id")

    op.drop_table("consent_events")  # its triggers go with it
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS consent_refuse_change()")
