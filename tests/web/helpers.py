"""Portal test data shared by the server-side and the browser tests (fictional throughout).

Everything here writes through the platform's own services (the ledger, the profile store,
API keys, portal tokens), inside an app context the caller provides, and commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from consent import ledger
from consent.views import receipt_issuer
from governance.auth import services
from governance.auth.actors import Actor
from governance.keys import portal_link_key
from governance.profiles.store import create_subject
from governance.requests import services as dsr

#: An adult customer's profile (reserved number range, example.com, invented names).
PROFILE: dict[str, Any] = {
    "nickname": "林小雨",
    "city": "杭州",
    "birth_year": 1990,
    "gender": "female",
    "mobile": "13800000017",
    "email": "lin.xiaoyu@example.com",
    "member_level": "gold",
    "browse_history": ["tea-set-01", "mug-07"],
    "coupon_use": 3,
}
#: The default catalog's notices: the old one, and the material change after it.
OLD_NOTICE, CURRENT_NOTICE = "2026-01", "2026-09"
#: A moment before the material change took effect (a grant then needs re-consent now).
BEFORE_CHANGE = dt.datetime(2026, 8, 1, 10, 0, tzinfo=dt.UTC)
EVIDENCE = "0" * 63 + "1"


def new_customer(session: Session, **values: Any) -> str:
    """An adult customer with :data:`PROFILE` (overridden by ``values``); returns the id."""
    subject = create_subject(session, {**PROFILE, **values})
    session.commit()
    return subject


def decide(
    session: Session,
    subject: str,
    purpose: str,
    kind: str = "grant",
    *,
    tier: str | None = "basic",
    channel: str = "mini_program",
    notice: str = CURRENT_NOTICE,
    now: dt.datetime | None = None,
) -> None:
    """Record a decision the customer made in another channel (with its receipt)."""
    granting = kind == "grant"
    ledger.record(
        session,
        ledger.Change(
            subject=subject,
            purposes=(purpose,),
            kind=kind,
            channel=channel,
            acted_by="subject",
            actor_id=subject,
            tier=tier if granting else None,
            notice_version=notice if granting else None,
            evidence_sha256=EVIDENCE if granting else None,
        ),
        now=now,
        receipts=receipt_issuer(session),
    )
    session.commit()


def service_token(session: Session, name: str, purposes: list[str]) -> str:
    """A service API key that may read profiles for ``purposes``; returns its bearer token."""
    new = services.create_api_key(
        session,
        name,
        purposes,
        ["profile:read", "consent:check"],
        known_purposes=set(purposes),
    )
    session.commit()
    return new.token


def portal_path(subject: str) -> str:
    """The path of a fresh one-time portal link for ``subject``."""
    return f"/portal/enter?token={services.issue_portal_token(subject, portal_link_key())}"


def file_request(session: Session, subject: str, kind: str, **extra: Any) -> None:
    """The customer ``subject`` files a data-subject request of ``kind`` (15 days to answer)."""
    customer = Actor(type="subject", id=subject)
    dsr.submit(session, customer, subject, dsr.Submission(kind=kind, **extra), due_days=15)
    session.commit()
