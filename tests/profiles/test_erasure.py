"""Erasure by crypto-shredding: the key is gone, copies taken before are unreadable."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from flask import Flask
from sqlalchemy import MetaData, func, select
from sqlalchemy.orm import Session

from audit.models import AuditEntry
from consent import ledger
from consent.webhooks.models import OutboxMessage
from governance.auth.actors import Actor
from governance.db import get_engine, get_session
from governance.errors import ApiError
from governance.profiles.crypto import (
    DecryptionError,
    SubjectCipher,
    profile_crypto,
    revealing,
    subject_key_aad,
)
from governance.profiles.erasure import erase_subject
from governance.profiles.guarded import read_profile
from governance.profiles.models import BlindIndex, ProfileValue, Subject, SubjectKey
from governance.profiles.store import create_subject, find_subject_by
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE, NOW

VALUES = {"mobile": "10020000051", "email": "lan.zhou@example.com", "city": "成都", "coupon_use": 5}
DPO = Actor(type="operator", id="3", brand=None)
REQUEST = hashlib.sha256(b"erasure request 0001 (fictional)").hexdigest()
READER = Actor(type="service", id="gk_reader", purposes=frozenset({"marketing_push"}))


def _grant(session: Session, subject: str, purpose: str) -> None:
    ledger.record(
        session,
        ledger.Change(
            subject=subject,
            purposes=(purpose,),
            kind="grant",
            channel="portal",
            acted_by="subject",
            actor_id=subject,
            tier="behaviour",
            notice_version=CURRENT_NOTICE,
            evidence_sha256=EVIDENCE,
        ),
        now=NOW - dt.timedelta(days=1),
    )


@pytest.fixture
def customers(app: Flask, catalog: Any) -> Iterator[tuple[str, str]]:
    """Two customers; the first granted marketing and analytics."""
    with app.app_context():
        session = get_session()
        first = create_subject(session, VALUES)
        second = create_subject(session, {**VALUES, "mobile": "10020000052"})
        session.flush()
        _grant(session, first, "marketing_push")
        _grant(session, first, "analytics")
        session.commit()
        yield first, second


def _copy_of_the_database(app: Flask) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the main database (a backup, as a restore would see it)."""
    engine = get_engine(app)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        return {
            name: [dict(r._mapping) for r in conn.execute(table.select())]
            for name, table in meta.tables.items()
        }


def test_erasure_makes_values_unreadable_even_from_a_copy_taken_before(
    app: Flask, customers: tuple[str, str]
) -> None:
    erased, other = customers
    backup = _copy_of_the_database(app)
    assert "subject_keys" not in backup  # the keys were never in the database
    stored = [r for r in backup["profile_values"] if r["subject_id"] == erased]
    assert len(stored) == len(VALUES)

    with app.app_context():
        session = get_session()
        done = erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        assert done.key_destroyed and done.values_deleted == len(VALUES)
        assert session.get(SubjectKey, erased) is None
        # No key that exists anywhere opens the old ciphertexts: not the erased subject's
        # (gone), not anyone else's, not a fresh one.
        crypto = profile_crypto()
        keys = list(session.scalars(select(SubjectKey)))
        assert [k.subject_id for k in keys] == [other]
        data_keys = [
            crypto.keyring.unwrap(k.wrapped_key, subject_key_aad(k.subject_id, k.key_version))
            for k in keys
        ]
        data_keys.append(os.urandom(32))
        for row in stored:
            for data_key in data_keys:
                forged = SubjectCipher(erased, row["key_version"], data_key)
                with revealing(), pytest.raises((DecryptionError, InvalidTag)):
                    forged.decrypt(row["field"], bytes(row["ciphertext"]))
        # The other customer is untouched.
        assert session.scalar(
            select(func.count()).select_from(ProfileValue).where(ProfileValue.subject_id == other)
        ) == len(VALUES)


def test_erasure_withdraws_every_consent_and_tells_subscribers(
    app: Flask, customers: tuple[str, str]
) -> None:
    from consent.webhooks.services import create_subscription
    from governance.keys import Keyring

    erased, _other = customers
    with app.app_context():
        session = get_session()
        create_subscription(
            session,
            name="crm (fictional)",
            url="https://crm.example.com/hooks/consent",
            purposes=["marketing_push", "analytics"],
            keyring=Keyring.from_file(app.config["KEY_PATHS"].kek),
            production=False,
        )
        session.commit()
        done = erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        assert done.withdrawn == ("analytics", "marketing_push")
        states = {s.purpose: s.status for s in ledger.states(session, erased)}
        assert states == {"analytics": "withdrawn", "marketing_push": "withdrawn"}
        messages = session.scalar(select(func.count()).select_from(OutboxMessage))
        assert messages == 2


def test_an_erased_subject_is_a_tombstone_that_nothing_finds_or_reads(
    app: Flask, customers: tuple[str, str]
) -> None:
    erased, _other = customers
    with app.app_context():
        session = get_session()
        assert find_subject_by(session, "mobile", VALUES["mobile"]) == [erased]
        erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        tomb = session.get(Subject, erased)
        assert tomb is not None and tomb.erased_at is not None and tomb.birth_year is None
        assert find_subject_by(session, "mobile", VALUES["mobile"]) == []
        assert (
            session.scalar(
                select(func.count()).select_from(BlindIndex).where(BlindIndex.subject_id == erased)
            )
            == 0
        )
        with pytest.raises(ApiError) as raised:
            read_profile(session, READER, erased, "marketing_push", ["city"], now=NOW)
        assert raised.value.problem.status == 404


def test_the_erasure_is_audited_without_values_and_the_trail_still_verifies(
    app: Flask, customers: tuple[str, str]
) -> None:
    from audit import public_keys
    from audit.verify import verify_database

    erased, _other = customers
    with app.app_context():
        session = get_session()
        done = erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        entry = session.get(AuditEntry, done.audit_seq)
        assert entry is not None and entry.action == "profile.erase"
        assert entry.subject_id == erased
        details = json.loads(entry.details)
        assert details["key_destroyed"] is True and details["values_deleted"] == len(VALUES)
        raw = " ".join(e.details for e in session.scalars(select(AuditEntry)))
        assert [v for v in VALUES.values() if isinstance(v, str) and v in raw] == []
        session.commit()
        assert verify_database(get_engine(app), public_keys()).ok


def test_erasure_is_idempotent_and_finishes_what_a_failure_left(
    app: Flask, customers: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audit

    erased, _other = customers
    with app.app_context():
        session = get_session()
        real = audit.record

        def failing(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the audit store is down (simulated)")

        monkeypatch.setattr(audit, "record", failing)
        with pytest.raises(RuntimeError):
            erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        session.rollback()
        # The key went first and stays gone; the rest was rolled back.
        assert session.get(SubjectKey, erased) is None
        subject = session.get(Subject, erased)
        assert subject is not None and subject.erased_at is None
        monkeypatch.setattr(audit, "record", real)
        done = erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        assert not done.key_destroyed and done.values_deleted == len(VALUES)
        again = erase_subject(session, erased, actor=DPO, evidence_sha256=REQUEST)
        assert (again.values_deleted, again.withdrawn) == (0, ())


def test_an_actor_of_another_brand_or_another_customer_cannot_erase(
    app: Flask, customers: tuple[str, str]
) -> None:
    from governance.brands import create_brand

    erased, other = customers
    with app.app_context():
        session = get_session()
        create_brand(session, "brand-b", "Brand B (fictional)")
        session.commit()
        for actor in (
            Actor(type="operator", id="4", brand="brand-b"),
            Actor(type="subject", id=other),
        ):
            with pytest.raises(ApiError) as raised:
                erase_subject(session, erased, actor=actor, evidence_sha256=REQUEST)
            assert raised.value.problem.status == 404
        assert session.get(SubjectKey, erased) is not None
