"""The guarded read: what it decrypts, what it audits, and that every failure reveals nothing."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import audit
import policies
from audit.models import AuditEntry
from governance.auth.actors import Actor
from governance.auth.permissions import Role
from governance.db import get_session
from governance.errors import ApiError
from governance.profiles import crypto as crypto_module
from governance.profiles.guarded import read_profile
from governance.profiles.store import create_subject
from policies.engine import deny_all
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE, NOW

VALUES = {
    "mobile": "10020000017",
    "email": "mei.chen@example.com",
    "city": "苏州",
    "coupon_use": 4,
    "order_total_12m": 88.5,
}
SERVICE = Actor(
    type="service", id="gk_readerService", purposes=frozenset({"marketing_push", "analytics"})
)


def _grant(session: Session, subject: str, purpose: str, tier: str = "payment") -> None:
    from consent import ledger

    ledger.record(
        session,
        ledger.Change(
            subject=subject,
            purposes=(purpose,),
            kind="grant",
            channel="portal",
            acted_by="subject",
            actor_id=subject,
            tier=tier,
            notice_version=CURRENT_NOTICE,
            evidence_sha256=EVIDENCE,
        ),
        now=NOW - dt.timedelta(days=1),
    )


@pytest.fixture
def subject(app: Flask, catalog: Any) -> Iterator[str]:
    """A customer with VALUES who granted marketing and analytics at the payment tier."""
    with app.app_context():
        session = get_session()
        sid = create_subject(session, VALUES)
        session.flush()
        _grant(session, sid, "marketing_push")
        _grant(session, sid, "analytics")
        session.commit()
        yield sid


def _entries(session: Session) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == "profile.read").order_by(AuditEntry.seq)
        )
    )


def test_only_allowed_fields_are_decrypted(
    app: Flask, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = crypto_module.SubjectCipher.decrypt

    def spy(self: Any, field: str, blob: bytes) -> Any:
        opened.append(field)
        return real(self, field, blob)

    monkeypatch.setattr(crypto_module.SubjectCipher, "decrypt", spy)
    with app.app_context():
        result = read_profile(
            get_session(), SERVICE, subject, "marketing_push", ["city", "coupon_use"], now=NOW
        )
    # coupon_use is behaviour-tier data of the behaviour category: marketing may use it;
    # city is allowed. Nothing else was asked, nothing else was opened.
    assert sorted(opened) == sorted(n for n, f in result.fields.items() if f.allow)
    assert result.fields["city"].value == "苏州"


def test_a_denied_field_is_never_decrypted(
    app: Flask, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = crypto_module.SubjectCipher.decrypt

    def spy(self: Any, field: str, blob: bytes) -> Any:
        opened.append(field)
        return real(self, field, blob)

    monkeypatch.setattr(crypto_module.SubjectCipher, "decrypt", spy)
    marketer = Actor(type="operator", id="7", roles=frozenset({Role.MARKETING}), mfa_at=NOW)
    with app.app_context():
        result = read_profile(
            get_session(), marketer, subject, "marketing_push", ["mobile", "city"], now=NOW
        )
    assert not result.fields["mobile"].allow
    assert result.fields["mobile"].reasons == ("classification_not_granted",)
    assert opened == ["city"]


def test_each_read_is_audited_with_field_names_and_never_a_value(app: Flask, subject: str) -> None:
    with app.app_context():
        session = get_session()
        result = read_profile(session, SERVICE, subject, "marketing_push", list(VALUES), now=NOW)
        entries = _entries(session)
        assert [e.seq for e in entries] == [result.audit_seq]
        entry = entries[0]
        assert (entry.subject_id, entry.purpose, entry.actor_type) == (
            subject,
            "marketing_push",
            "service",
        )
        assert entry.policy_hash == result.bundle_hash
        revealed = sorted(n for n, f in result.fields.items() if f.allow)
        assert json.loads(entry.details)["revealed"] == revealed and revealed
        raw = str([(e.details, e.reasons, e.resource) for e in entries])
        for value in VALUES.values():
            assert str(value) not in raw


def test_the_entry_is_committed_before_values_are_returned(
    app: Flask, subject: str, database_url: str
) -> None:
    from sqlalchemy import create_engine

    with app.app_context():
        result = read_profile(get_session(), SERVICE, subject, "analytics", ["city"], now=NOW)
    # Another connection sees it: it was committed, not merely flushed.
    other = create_engine(database_url)
    with other.connect() as conn:
        seqs = conn.scalars(select(AuditEntry.seq).where(AuditEntry.action == "profile.read"))
        assert list(seqs) == [result.audit_seq]
    other.dispose()


def test_an_engine_failure_reveals_nothing_and_is_audited(
    app: Flask, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        service = policies.service()
        monkeypatch.setattr(
            service, "decide", lambda policy_input: deny_all(["city"], service.bundle_hash)
        )
        session = get_session()
        with pytest.raises(ApiError) as raised:
            read_profile(session, SERVICE, subject, "marketing_push", ["city"], now=NOW)
        assert raised.value.problem.status == 503
        assert "苏州" not in str(raised.value)
        (entry,) = _entries(session)
        assert entry.decision == "error" and json.loads(entry.reasons) == ["engine_error"]


def test_an_audit_failure_reveals_nothing_and_writes_nothing(
    app: Flask, subject: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the audit store is down (simulated)")

    monkeypatch.setattr(audit, "record", broken)
    with app.app_context():
        session = get_session()
        with pytest.raises(RuntimeError):
            read_profile(session, SERVICE, subject, "marketing_push", ["city"], now=NOW)
        session.rollback()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == _count_before(
            session
        )


def _count_before(session: Session) -> int:
    """Entries written by the fixture (consent grants); reads add none when audit fails."""
    return int(
        session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action != "profile.read")
        )
        or 0
    )


def test_a_stale_second_factor_withholds_core_fields_only(app: Flask, subject: str) -> None:
    from consent import ledger

    stale = Actor(
        type="operator",
        id="8",
        roles=frozenset({Role.CUSTOMER_SERVICE}),
        mfa_at=NOW - dt.timedelta(hours=2),
    )
    fresh = Actor(type="operator", id="8", roles=frozenset({Role.CUSTOMER_SERVICE}), mfa_at=NOW)
    with app.app_context():
        session = get_session()
        assert ledger.check(session, subject, "customer_service", ledger.Tier.BASIC, now=NOW).valid
        before = read_profile(
            session, stale, subject, "customer_service", ["mobile", "order_total_12m"], now=NOW
        )
        after = read_profile(
            session, fresh, subject, "customer_service", ["mobile", "order_total_12m"], now=NOW
        )
    assert before.fields["mobile"].reasons == ("step_up_required",)
    assert before.fields["mobile"].value is None
    assert before.fields["order_total_12m"].value == 88.5
    assert after.fields["mobile"].allow and after.fields["mobile"].value == "100****0017"


def test_an_unknown_erased_or_other_brands_subject_is_a_404_and_audited(
    app: Flask, subject: str
) -> None:
    from governance.brands import create_brand

    with app.app_context():
        session = get_session()
        create_brand(session, "brand-b", "Brand B (fictional)")
        session.commit()
        other = Actor(
            type="service", id="gk_b", purposes=frozenset({"marketing_push"}), brand="brand-b"
        )
        agent = Actor(type="operator", id="8", roles=frozenset({Role.CUSTOMER_SERVICE}), mfa_at=NOW)
        other_agent = Actor(
            type="operator",
            id="9",
            roles=frozenset({Role.CUSTOMER_SERVICE}),
            mfa_at=NOW,
            brand="brand-b",
        )
        for actor, sid, purpose in (
            (SERVICE, "sub_AAAAAAAAAAAAAAAAAAAAAA", "marketing_push"),
            (other, subject, "marketing_push"),
            # A purpose on a contract needs no consent, but still a subject one may see.
            (agent, "sub_AAAAAAAAAAAAAAAAAAAAAA", "customer_service"),
            (other_agent, subject, "customer_service"),
        ):
            with pytest.raises(ApiError) as raised:
                read_profile(session, actor, sid, purpose, ["city"], now=NOW)
            assert raised.value.problem.status == 404
            assert raised.value.detail == "No such subject."
        denied = [e for e in _entries(session) if json.loads(e.reasons) == ["unknown_subject"]]
        assert len(denied) == 4


def test_an_anonymous_actor_cannot_read(app: Flask, subject: str) -> None:
    from governance.auth.actors import ANONYMOUS

    with app.app_context(), pytest.raises(ApiError) as raised:
        read_profile(get_session(), ANONYMOUS, subject, "marketing_push", ["city"], now=NOW)
    assert raised.value.problem.status == 401


def test_unknown_purpose_or_field_is_a_422_and_nothing_is_written(app: Flask, subject: str) -> None:
    with app.app_context():
        session = get_session()
        before = session.scalar(select(func.count()).select_from(AuditEntry))
        for purpose, fields in (("no_such_purpose", ["city"]), ("analytics", ["no_such"])):
            with pytest.raises(ApiError) as raised:
                read_profile(session, SERVICE, subject, purpose, fields, now=NOW)
            assert raised.value.problem.status == 422
        session.rollback()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before


def test_reads_count_toward_the_daily_volume(app: Flask, subject: str) -> None:
    from policies.inputs import daily_volume

    with app.app_context():
        session = get_session()
        for _ in range(3):
            read_profile(session, SERVICE, subject, "analytics", ["city"], now=NOW)
        assert daily_volume(session, SERVICE, NOW) == 3
