"""Consent test helpers: subjects, decisions through the ledger, and the API as each actor."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from consent import ledger
from governance.brands import DEFAULT_BRAND
from governance.db import get_session
from governance.profiles.models import Subject

EVIDENCE = hashlib.sha256(b"the notice text and the choices shown").hexdigest()
GUARDIAN_EVIDENCE = hashlib.sha256(b"guardianship record 0001 (fictional)").hexdigest()
BEHALF_EVIDENCE = hashlib.sha256(b"call record 0001 (fictional)").hexdigest()
CURRENT_NOTICE = "2026-09"  # the default catalog's newest notice
#: A fixed "now" after every notice of the default catalog took effect.
NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def subject_id(n: int) -> str:
    """A fictional opaque subject id."""
    return f"sub_consentSubject{n:08d}"


@pytest.fixture
def ledger_db(db: Session, catalog: Any) -> Iterator[Session]:
    """A session on a database with the default catalog."""
    yield db


@pytest.fixture
def make_subject(app: Flask) -> Any:
    """Create subject ``n`` (born in ``birth_year``, if known), of ``brand``; returns its id."""

    def make(n: int, birth_year: int | None = 1990, brand: str = DEFAULT_BRAND) -> str:
        with app.app_context():
            session = get_session()
            session.add(Subject(id=subject_id(n), birth_year=birth_year, brand_id=brand))
            session.commit()
        return subject_id(n)

    return make


@pytest.fixture
def decide(app: Flask) -> Any:
    """Record a decision through the ledger and commit; returns what was recorded."""

    def run(subject: str, kind: str, *purposes: str, **fields: Any) -> ledger.Recorded:
        now = fields.pop("now", NOW)
        values: dict[str, Any] = {
            "channel": "portal",
            "acted_by": "subject",
            "actor_id": subject,
        }
        if kind == "grant":
            values |= {
                "tier": "payment",
                "notice_version": CURRENT_NOTICE,
                "evidence_sha256": EVIDENCE,
            }
        values |= fields
        with app.app_context():
            session = get_session()
            recorded = ledger.record(
                session,
                ledger.Change(subject=subject, purposes=tuple(purposes), kind=kind, **values),
                now=now,
            )
            session.commit()
            for event in recorded.events:
                session.expunge(event)
            return recorded

    return run


@pytest.fixture
def check(app: Flask) -> Any:
    """Check one subject's consent (at ``NOW`` unless told)."""

    def run(
        subject: str, purpose: str, tier: str = "basic", now: dt.datetime = NOW
    ) -> ledger.Answer:
        from consent.tiers import Tier

        with app.app_context():
            return ledger.check(get_session(), subject, purpose, Tier(tier), now=now)

    return run
