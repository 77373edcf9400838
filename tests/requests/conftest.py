"""Data-subject request helpers: customers with distinctive fictional values, and actors."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from audit.models import AuditEntry
from consent import ledger
from governance.db import get_session
from governance.profiles.store import create_subject
from governance.requests.models import SubjectRequest
from tests.conftest import ActorClient
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE

#: Distinctive fictional values: none may ever appear in a request row or an audit entry.
VALUES: dict[str, Any] = {
    "mobile": "10020000091",
    "email": "qiu.yun.dsr@example.com",
    "city": "Dsr-城市-9K",
    "nickname": "Dsr-昵称-9K",
    "coupon_use": 7,
    "service_notes": "Dsr note 9K",
}
OTHER_VALUES: dict[str, Any] = {"mobile": "10020000092", "city": "Dsr-城市-8J"}


def grant(app: Flask, subject: str, purpose: str, tier: str = "behaviour") -> None:
    """Record a grant through the ledger (five minutes ago) and commit."""
    with app.app_context():
        session = get_session()
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
            now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5),
        )
        session.commit()


def make_customer(app: Flask, values: dict[str, Any], brand: str = "default") -> str:
    """Create a customer with ``values``; returns the id."""
    with app.app_context():
        session = get_session()
        subject = create_subject(session, values, brand=brand)
        session.commit()
    return subject


@pytest.fixture
def customer(app: Flask, catalog: Any) -> str:
    """A customer with VALUES who granted marketing (and analytics) at the behaviour tier."""
    subject = make_customer(app, VALUES)
    grant(app, subject, "marketing_push")
    grant(app, subject, "analytics")
    return subject


@pytest.fixture
def other(app: Flask, catalog: Any) -> str:
    """Another customer of the same brand."""
    return make_customer(app, OTHER_VALUES)


@pytest.fixture
def me(as_subject: Any, customer: str) -> ActorClient:
    """The customer's portal session."""
    client: ActorClient = as_subject(customer)
    return client


def file(client: ActorClient, subject: str, **body: Any) -> Any:
    """POST a request as ``client`` for ``subject``."""
    return client.post(f"/api/v1/subjects/{subject}/requests", json=body)


def filed(client: ActorClient, subject: str, **body: Any) -> dict[str, Any]:
    """File a request that must be accepted; returns it."""
    resp = file(client, subject, **body)
    assert resp.status_code == 201, resp.get_json()
    out: dict[str, Any] = resp.get_json()
    return out


def entries(app: Flask, action: str) -> list[AuditEntry]:
    """Audit entries of ``action``, oldest first."""
    with app.app_context():
        return list(
            get_session().scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            )
        )


def request_row(app: Flask, request_id: str) -> SubjectRequest:
    """The stored row of a request."""
    with app.app_context():
        session = get_session()
        row = session.get(SubjectRequest, request_id)
        assert row is not None
        session.expunge(row)
        return row


@pytest.fixture
def as_stale_dpo(app: Flask, make_operator: Any) -> Any:
    """A DPO signed in whose second factor is an hour old (``brand``: of one brand)."""
    from governance.auth import services

    def sign_in(brand: str | None = None) -> ActorClient:
        op_id = make_operator("dpo", brand=brand)
        client: FlaskClient = app.test_client()
        with client.session_transaction() as sess:
            sess.update(
                actor_type="operator",
                actor_id=op_id,
                expires_at=services.session_expiry(120),
                mfa_at=int(time.time()) - 3600,
            )
        return ActorClient(client)

    return sign_in
