"""Arrange the conditions the compliance self-check looks for (fictional data throughout).

Each builder takes the session of an app context the caller holds briefly, writes rows
directly or through the platform's services, and commits. Ids and names are invented.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

import audit
from audit.log import format_time
from audit.models import AuditVerification
from consent.webhooks.models import OutboxMessage, WebhookSubscription
from federated.governance.models import Agreement, Partner
from governance.db import utcnow
from governance.profiles.models import ProfileValue, Subject
from governance.profiles.store import new_subject_id
from governance.requests.models import SubjectRequest
from policies.inputs import LOCAL_ZONE

#: A purpose the default catalog's material notice change (2026-09) names.
CHANGED_PURPOSE = "cross_border_transfer"


def today() -> dt.date:
    """Today as the agreement checks see it (China time)."""
    return utcnow().astimezone(LOCAL_ZONE).date()


def denial(session: Session, reason: str = "consent_invalid") -> None:
    """A refused read in the audit log, logged now."""
    audit.record(
        session,
        action="profile.read",
        decision="deny",
        reasons=[reason],
        resource="profile",
        details={"fields": ["email"]},
    )
    session.commit()


def bare_subject(session: Session) -> str:
    """A subject row with no profile (requests need one)."""
    subject_id = new_subject_id()
    session.add(Subject(id=subject_id))
    session.commit()
    return subject_id


def subject_request(
    session: Session,
    *,
    due_in_days: float,
    status: str = "open",
    kind: str = "access",
    subject: str | None = None,
) -> str:
    """A request due ``due_in_days`` from now (negative: overdue); returns its id."""
    subject = subject or bare_subject(session)
    now = utcnow()
    request_id = "dsr_" + secrets.token_hex(8)
    session.add(
        SubjectRequest(
            id=request_id,
            subject_id=subject,
            brand_id="default",
            kind=kind,
            status=status,
            channel="portal",
            requested_by_type="subject",
            requested_by_id=subject,
            created_at=now - dt.timedelta(days=20),
            due_at=now + dt.timedelta(days=due_in_days),
            closed_at=now if status in ("completed", "rejected") else None,
            details={},
        )
    )
    session.commit()
    return request_id


def partner(session: Session, name: str = "Example Bank (fictional)") -> str:
    """A partner row (its node key a placeholder: nothing here runs)."""
    partner_id = "ptn_" + secrets.token_hex(8)
    session.add(
        Partner(
            id=partner_id,
            name=name,
            contact="fl@bank.example.com",
            supernode_public_key="-----BEGIN PUBLIC KEY-----placeholder",
            supernode_key_sha256="0" * 64,
            brand_id="default",
        )
    )
    session.commit()
    return partner_id


def agreement(
    session: Session,
    partner_id: str,
    *,
    valid_from: dt.date,
    valid_until: dt.date,
    status: str = "approved",
) -> str:
    """An agreement row with ``partner_id`` in ``status``; returns its id."""
    agreement_id = "agr_" + secrets.token_hex(8)
    session.add(
        Agreement(
            id=agreement_id,
            partner_id=partner_id,
            purpose="joint_modelling_partner_bank",
            categories=["behaviour", "transaction"],
            fields=["coupon_use", "order_total_12m"],
            label_field="order_total_12m",
            valid_from=valid_from,
            valid_until=valid_until,
            dp_noise_multiplier=1.0,
            dp_clipping_norm=1.0,
            status=status,
            approved_by="1" if status != "draft" else None,
            approved_at=utcnow() if status != "draft" else None,
            blinding_key_wrapped="kek-1:placeholder",
        )
    )
    session.commit()
    return agreement_id


def verification(session: Session, *, ok: bool, days_ago: float = 0) -> None:
    """A recorded verification run that passed or failed ``days_ago``."""
    moment = format_time(utcnow() - dt.timedelta(days=days_ago))
    session.add(
        AuditVerification(
            started_at=moment,
            finished_at=moment,
            actor_type="system",
            actor_id="cli",
            ok=ok,
            entries_checked=10,
            checkpoints_checked=1,
            tree_size=10,
            failure_check=None if ok else "chain",
            failure_message=None if ok else "entry 3 does not chain",
            failure_entry=None if ok else 3,
        )
    )
    session.commit()


def subscription(session: Session, purposes: list[str]) -> str:
    """An active webhook subscription for ``purposes``; returns its id."""
    sub_id = "whs_" + secrets.token_hex(8)
    session.add(
        WebhookSubscription(
            id=sub_id,
            name="CRM sync (fictional)",
            url="https://crm.example.com/hooks/consent",
            purposes=purposes,
            secret_wrapped="kek-1:placeholder",
        )
    )
    session.commit()
    return sub_id


def kill_messages(session: Session, subscription_id: str) -> int:
    """Mark every message queued for ``subscription_id`` dead; returns how many."""
    ids = list(
        session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.subscription_id == subscription_id)
        )
    )
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(status="dead", attempts=8, last_error="http_500")
    )
    session.commit()
    return len(ids)


def age_value(session: Session, subject: str, field: str, days: int) -> None:
    """Pretend ``subject``'s ``field`` was last written ``days`` ago."""
    session.execute(
        update(ProfileValue)
        .where(ProfileValue.subject_id == subject, ProfileValue.field == field)
        .values(updated_at=utcnow() - dt.timedelta(days=days))
    )
    session.commit()


def statuses(check: Any) -> dict[str, str]:
    """Each item's status by key."""
    return {item.key: item.status for item in check.items}
