"""Audit tables: the append-only entries and the signed checkpoints.

``audit_entries`` holds one row per entry, numbered 0, 1, 2, ... with no gaps. The row is
its own source of truth: the canonical bytes (:func:`audit.canonical.entry_bytes`) are
rebuilt from its columns, hashed into ``leaf_hash`` and chained into ``chain_hash``.
``nodes`` holds the hashes of the perfect Merkle subtrees this leaf completed (levels 1, 2,
... , 32 bytes each), so every node of the tree lives in exactly one row and a proof is a
handful of primary-key lookups.

Indexes are few on purpose: each one is another page written by every append. The
subject, actor and purpose filters have one each (leading column, then ``seq`` for keyset
pages newest first). Time needs none: ``logged_at`` never decreases along ``seq`` (the
appender enforces it), so a time range becomes a ``seq`` range by binary search on the
primary key. Action and decision filters ride on the others or on ``seq`` order.

Both tables refuse UPDATE and DELETE with triggers (:mod:`audit.ddl`), on SQLite and
PostgreSQL alike; on PostgreSQL the app role should also hold only SELECT and INSERT on
them (docs/operations.md).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column

from audit import ddl
from governance.db import Base

DECISIONS = ("allow", "deny", "error")
#: BIGINT, but plain INTEGER on SQLite: an ``INTEGER PRIMARY KEY`` is SQLite's rowid, so
#: the table is stored in ``seq`` order with no separate key index. An append writes one
#: B-tree fewer, and verification reads the table in order instead of looking each row up
#: through the index (about twice as fast). SQLite's INTEGER holds 64 bits, as BIGINT does.
SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")
TIME_FORMAT_LENGTH = len("2026-11-25T10:00:00.000000Z")


class AuditEntry(Base):
    """One audit entry."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        CheckConstraint("decision IN ('allow', 'deny', 'error')", name="decision"),
        CheckConstraint("seq >= 0", name="seq"),
        Index("ix_audit_entries_subject_seq", "subject_id", "seq"),
        Index("ix_audit_entries_actor_seq", "actor_type", "actor_id", "seq"),
        Index("ix_audit_entries_purpose_seq", "purpose", "seq"),
    )

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=False)
    # UTC, fixed width (YYYY-MM-DDTHH:MM:SS.ffffffZ): sorts as it reads, hashes as stored.
    logged_at: Mapped[str] = mapped_column(String(TIME_FORMAT_LENGTH))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(40))
    purpose: Mapped[str | None] = mapped_column(String(64))
    resource: Mapped[str | None] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(8))
    reasons: Mapped[str] = mapped_column(Text)  # canonical JSON array of strings
    policy_hash: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[str] = mapped_column(Text)  # canonical JSON object
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    nodes: Mapped[bytes] = mapped_column(LargeBinary)  # completed subtree hashes, 32 B each


class AuditCheckpoint(Base):
    """A signed tree head: tree size, root hash, chain hash and time, signed with Ed25519.

    ``body`` is the exact signed note (:mod:`audit.checkpoint`); the other columns repeat
    what it says for querying, and verification checks that they agree.
    """

    __tablename__ = "audit_checkpoints"
    __table_args__ = (CheckConstraint("tree_size >= 0", name="tree_size"),)

    id: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=False)
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    chain_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[str] = mapped_column(String(TIME_FORMAT_LENGTH))
    key_id: Mapped[str] = mapped_column(String(16))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


class AuditVerification(Base):
    """One verification run and its outcome, for the console and the self-check.

    Each run is also an ``audit.verify`` entry in the log itself (its ``audit_seq``); this
    table only makes "the last result" one indexed lookup instead of a scan for an action.
    A failed run names the first thing that did not match (never a value: checks, entry
    numbers and hashes only).
    """

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[str] = mapped_column(String(TIME_FORMAT_LENGTH))
    finished_at: Mapped[str] = mapped_column(String(TIME_FORMAT_LENGTH))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool] = mapped_column(Boolean)
    since_checkpoint: Mapped[int | None] = mapped_column(BigInteger)  # None: whole log
    entries_checked: Mapped[int] = mapped_column(BigInteger)
    checkpoints_checked: Mapped[int] = mapped_column(Integer)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[str | None] = mapped_column(String(64))  # base64
    failure_check: Mapped[str | None] = mapped_column(String(32))
    failure_message: Mapped[str | None] = mapped_column(Text)
    failure_entry: Mapped[int | None] = mapped_column(BigInteger)
    failure_checkpoint: Mapped[int | None] = mapped_column(BigInteger)
    audit_seq: Mapped[int | None] = mapped_column(BigInteger)  # the run's own log entry


#: The tables, typed for Core statements (the hot paths use Core, not the ORM).
ENTRIES = cast(Table, AuditEntry.__table__)
CHECKPOINTS = cast(Table, AuditCheckpoint.__table__)

for _table in (ENTRIES, CHECKPOINTS):
    for _statement in ddl.guard_ddl(_table.name):
        event.listen(_table, "after_create", _statement)
