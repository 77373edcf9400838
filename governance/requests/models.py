"""Data-subject requests (PIPL arts. 44-50): one row per request, its due date and status.

A row never holds a profile value: ``details`` names fields, reason codes and counts, and
``result`` a result code, counts and the DPO's note (checked for PII before it is kept).
A correction's new values are written to the profile store when the customer submits them
(encrypted there, like every value); the request keeps their field names only.

Indexes serve the three ways rows are read, each a keyset walk with no scan:

- the DPO's queue by status, oldest due first (``status, due_at, id``); the open statuses
  are few rows at any time, however many customers there are, and a closed status is
  walked in due order by the same index;
- a brand's queue (``brand_id, status, due_at, id``), for operators of one brand;
- a customer's own requests, newest first (``subject_id, created_at, id``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from consent.models import CHANNELS
from governance.db import Base

__all__ = [
    "ACTIVE_STATUSES",
    "KINDS",
    "STATUSES",
    "SubjectRequest",
]

#: What a customer can ask for. ``restriction_lift`` ends a restriction (art. 44) the
#: customer asked for earlier; every other kind is named after its right.
KINDS = (
    "access",
    "portability",
    "correction",
    "erasure",
    "restriction",
    "restriction_lift",
    "explanation",
)
STATUSES = ("open", "in_progress", "completed", "rejected")
#: Statuses of a request still to be answered (the queue's default, and "overdue").
ACTIVE_STATUSES = ("open", "in_progress")


class SubjectRequest(Base):
    """A customer's request to exercise a right over their personal information."""

    __tablename__ = "subject_requests"
    __table_args__ = (
        CheckConstraint(f"kind IN {KINDS}", name="kind"),
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"channel IN {CHANNELS}", name="channel"),
        Index("ix_subject_requests_status_due_at", "status", "due_at", "id"),
        Index("ix_subject_requests_brand_id_status_due_at", "brand_id", "status", "due_at", "id"),
        Index("ix_subject_requests_subject_id_created_at", "subject_id", "created_at", "id"),
    )

    #: ``dsr_`` and 128 random bits (URL-safe base64).
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subject_id: Mapped[str] = mapped_column(ForeignKey("subjects.id"))
    # The subject's brand, copied so that a brand's queue needs no join.
    brand_id: Mapped[str] = mapped_column(ForeignKey("brands.id"))
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    requested_by_type: Mapped[str] = mapped_column(String(16))
    requested_by_id: Mapped[str] = mapped_column(String(64))
    # The operator who started, completed or rejected it (opaque id).
    handled_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime]
    closed_at: Mapped[dt.datetime | None]
    # Field names, reason codes, counts: never a value.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
