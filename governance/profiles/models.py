"""Subjects, their wrapped data keys, encrypted profile values and blind indexes.

Nothing here holds a profile value in clear: values are AES-256-GCM ciphertexts under the
subject's data key, which is stored only wrapped by a key-encryption key; exact lookups go
through keyed-HMAC blind indexes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from governance.brands import DEFAULT_BRAND
from governance.db import Base, utcnow
from governance.profiles.vault import SubjectKey

__all__ = [
    "BlindIndex",
    "ExportSubject",
    "ProfileExport",
    "ProfileValue",
    "Subject",
    "SubjectKey",
]


class Subject(Base):
    """A customer, known only by an opaque id."""

    __tablename__ = "subjects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The brand whose customer this is (governance.brands): only that brand's services and
    # operators (and the group's) see the subject.
    brand_id: Mapped[str] = mapped_column(
        ForeignKey("brands.id"), server_default=DEFAULT_BRAND, default=DEFAULT_BRAND
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Year of birth is what the art. 31 (under 14) rule needs; kept outside the profile so
    # the consent ledger can check it without decrypting anything. Null when unknown.
    birth_year: Mapped[int | None]
    erased_at: Mapped[dt.datetime | None]
    # PIPL art. 44: the customer restricted processing; no one but they may read their data.
    restricted_at: Mapped[dt.datetime | None]


class ProfileValue(Base):
    """One catalogued field of one subject, encrypted (AAD: subject, field, key version)."""

    __tablename__ = "profile_values"
    # The compliance self-check counts, field by field, the values older than the field's
    # retention: an index range each, instead of reading every value.
    __table_args__ = (Index("ix_profile_values_field_updated_at", "field", "updated_at"),)

    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(ForeignKey("catalog_fields.name"), primary_key=True)
    key_version: Mapped[int]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class BlindIndex(Base):
    """Keyed HMAC of a normalised identifier, for exact lookup without decryption."""

    __tablename__ = "blind_indexes"
    __table_args__ = (Index("ix_blind_indexes_field_digest", "field", "digest"),)

    subject_id: Mapped[str] = mapped_column(
        ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(ForeignKey("catalog_fields.name"), primary_key=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))


#: What a cohort export can be: streaming, done, or stopped by an error.
EXPORT_STATUSES = ("running", "complete", "failed")


class ProfileExport(Base):
    """A consented-cohort export: who asked, for what, and what it revealed.

    Its start and its end are audit entries; :class:`ExportSubject` lists every subject it
    revealed (written, and committed, before their values leave).
    """

    __tablename__ = "profile_exports"
    __table_args__ = (CheckConstraint(f"status IN {EXPORT_STATUSES}", name="status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    brand_id: Mapped[str | None] = mapped_column(ForeignKey("brands.id"))
    purpose: Mapped[str] = mapped_column(String(64))
    fields: Mapped[list[str]] = mapped_column(JSON)
    filter: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="running")
    candidates: Mapped[int] = mapped_column(BigInteger)
    subjects: Mapped[int] = mapped_column(BigInteger, default=0)
    # SHA-256 over the revealed subjects' ids, in order, each followed by a newline.
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class ExportSubject(Base):
    """A subject revealed by an export (the customer's "who used my data" finds it here)."""

    __tablename__ = "export_subjects"
    __table_args__ = (Index("ix_export_subjects_subject_id", "subject_id"),)

    export_id: Mapped[str] = mapped_column(ForeignKey("profile_exports.id"), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(40), primary_key=True)
