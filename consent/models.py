"""Consent tables: the append-only event ledger and the current-state projection.

``consent_events`` is the record: one row per grant, withdrawal, refusal, expiry or
re-consent mark, never changed or deleted (triggers refuse UPDATE and DELETE, as on the
audit tables). ``consent_states`` is what the events add up to, one row per subject and
purpose, written in the same transaction as each event; ``governance consent rebuild``
recomputes it from the events and a test holds the two equal.

A state row answers a check with one primary-key lookup. Expiry needs no job: a grant's
``valid_until`` is compared with the time of the check. Re-consent after a material notice
change needs none either: the check compares the grant's notice date with the newest
material change for the purpose (``consent.ledger``).
"""

from __future__ import annotations

import datetime as dt
from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from audit import ddl
from governance.db import Base

EVENT_KINDS = ("grant", "withdraw", "refuse", "expire", "reconsent_required")
STATUSES = ("granted", "withdrawn", "refused", "expired", "reconsent_required")
CHANNELS = ("portal", "mini_program", "wecom", "store", "api")
#: Who acted: the subject, their guardian (art. 31), or an operator or service on the
#: subject's documented behalf.
ACTED_BY = ("subject", "guardian", "operator", "service")

_ID = BigInteger().with_variant(Integer(), "sqlite")


class ConsentEvent(Base):
    """One consent decision, as it was made; never changed afterwards."""

    __tablename__ = "consent_events"
    __table_args__ = (
        CheckConstraint(f"kind IN {EVENT_KINDS}", name="kind"),
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        CheckConstraint(f"acted_by IN {ACTED_BY}", name="acted_by"),
        Index("ix_consent_events_subject_id", "subject_id", "id"),
    )

    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(24))
    tier: Mapped[str | None] = mapped_column(String(16))  # grants only
    notice_version: Mapped[str | None] = mapped_column(String(32))
    notice_date: Mapped[dt.date | None] = mapped_column(Date)  # the notice's effective date
    channel: Mapped[str] = mapped_column(String(16))
    acted_by: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))  # operator id, key id, sub_...
    # SHA-256 (hex) of the exact text and choices shown, as the channel recorded them.
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    # Guardian grants: SHA-256 of the guardianship evidence (never the document itself).
    guardian_evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    # Operator on behalf: SHA-256 of the documented request (call record, signed form).
    behalf_evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    valid_until: Mapped[dt.datetime | None]
    occurred_at: Mapped[dt.datetime]
    receipt_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    receipt_jws: Mapped[str | None] = mapped_column(Text)
    audit_seq: Mapped[int] = mapped_column(BigInteger)


#: The state columns a consent check reads (consent.ledger).
CHECK_COLUMNS = (
    "status",
    "tier",
    "notice_version",
    "notice_date",
    "by_guardian",
    "valid_until",
    "changed_at",
)


class ConsentState(Base):
    """Where a subject stands for one purpose: the projection of their events."""

    __tablename__ = "consent_states"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        # On PostgreSQL the key carries what a check reads, so a check is an index-only
        # scan: it never visits the table's pages (half the time of a batch of 10,000).
        PrimaryKeyConstraint("subject_id", "purpose", postgresql_include=CHECK_COLUMNS),
        # Cohort exports walk one purpose's subjects in id order.
        Index("ix_consent_states_purpose_subject_id", "purpose", "subject_id"),
    )

    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24))
    tier: Mapped[str | None] = mapped_column(String(16))
    notice_version: Mapped[str | None] = mapped_column(String(32))
    notice_date: Mapped[dt.date | None] = mapped_column(Date)
    by_guardian: Mapped[bool] = mapped_column(Boolean, default=False)
    valid_until: Mapped[dt.datetime | None]
    changed_at: Mapped[dt.datetime]
    last_event_id: Mapped[int] = mapped_column(BigInteger)


EVENTS = cast(Table, ConsentEvent.__table__)
STATES = cast(Table, ConsentState.__table__)

#: What the database answers to an UPDATE or DELETE of an event.
APPEND_ONLY = "the consent ledger is append-only"

for _statement in ddl.guard_ddl(EVENTS.name, message=APPEND_ONLY, function="consent_refuse_change"):
    event.listen(EVENTS, "after_create", _statement)
