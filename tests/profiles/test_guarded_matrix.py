"""The guarded-read matrix: role x purpose x consent state x field, allow / deny / mask.

The expectations are written here in the words of the rules (docs/policy.md), not read
from the policy data, so a change to either the policies or the guarded read that moves
an outcome fails this test. Every read goes through
:func:`governance.profiles.guarded.read_profile` at a fixed time (18:00 in Shanghai,
inside every role's hours) with a fresh second factor for operators.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from governance.auth.actors import Actor
from governance.auth.permissions import Role
from governance.db import get_session
from governance.profiles.guarded import read_profile
from governance.profiles.models import Subject
from governance.profiles.store import create_subject
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE, GUARDIAN_EVIDENCE, NOW

# field: (category, tier, classification, PIPL-sensitive), as in the default catalog.
FIELDS = {
    "city": ("demographic", "basic", "internal", False),
    "coupon_use": ("behaviour", "behaviour", "internal", False),
    "order_total_12m": ("transaction", "payment", "internal", False),
    "mobile": ("contact", "basic", "core", False),
    "email": ("contact", "basic", "core", False),
    "precise_location": ("location", "behaviour", "sensitive", True),
    "bank_card_number": ("financial", "payment", "core", True),
}
VALUES = {
    "city": "杭州",
    "coupon_use": 3,
    "order_total_12m": 1234.5,
    "mobile": "10020000009",
    "email": "xiaoyu.wang@example.com",
    "precise_location": "30.27415,120.15515",
    "bank_card_number": "9999990000000001",
}
MASKED = {
    "mobile": "100****0009",
    "email": "x*****@example.com",
    "bank_card_number": "************0001",
}
TIER_RANK = {"basic": 0, "behaviour": 1, "payment": 2}

# purpose: (legal basis, separate consent)
PURPOSES = {
    "marketing_push": ("consent", False),
    "analytics": ("consent", False),
    "customer_service": ("contract", False),
    "joint_modelling_partner_bank": ("consent", True),
}
#: The lowest tier a grant for each consent purpose may have (the catalog's required tier).
REQUIRED_TIER = {
    "marketing_push": "basic",
    "analytics": "behaviour",
    "joint_modelling_partner_bank": "payment",
}
#: A contract lets these categories be used (and no others).
CONTRACT_CATEGORIES = {"contact", "identity", "profile", "membership", "transaction", "service"}

# actor: (type, roles, purposes granted, classifications granted, fields seen unmasked)
ACTORS: dict[str, tuple[str, set[str], set[str], set[str], set[str]]] = {
    "marketing": ("operator", {"marketing"}, {"marketing_push"}, {"public", "internal"}, set()),
    "customer_service": (
        "operator",
        {"customer_service"},
        {"customer_service"},
        {"public", "internal", "core"},
        {"email"},
    ),
    "analyst": ("operator", {"analyst"}, {"analytics"}, {"public", "internal"}, set()),
    "dpo": ("operator", {"dpo"}, set(), set(), set()),
    "service": (
        "service",
        set(),
        {"marketing_push", "analytics", "joint_modelling_partner_bank"},
        {"public", "internal", "core"},
        set(MASKED),  # services are not masked: masks are for people
    ),
}

#: Consent states: (valid for the purposes it names, tier). "reconsent" is valid except
#: for the purposes of the material notice change of 2026-09 (joint modelling).
STATES: dict[str, tuple[bool, str | None]] = {
    "granted_payment": (True, "payment"),
    "granted_minimum": (True, None),  # each purpose at its required tier
    "withdrawn": (False, None),
    "expired": (False, None),
    "reconsent": (True, "payment"),
    "minor_without_guardian": (False, None),
    "minor_with_guardian": (True, "payment"),
    "never": (False, None),
}
MATERIAL_PURPOSES = {"joint_modelling_partner_bank"}
CONSENT_PURPOSES = [p for p, (basis, _) in PURPOSES.items() if basis == "consent"]


def expected(actor: str, purpose: str, state: str, field: str) -> str:
    """``deny``, ``allow`` or ``mask``: the rules, one line each."""
    _kind, _roles, purposes, classes, unmasked = ACTORS[actor]
    category, tier, classification, sensitive = FIELDS[field]
    basis, separate = PURPOSES[purpose]
    valid, consent_tier = STATES[state]
    if state == "granted_minimum":
        consent_tier = REQUIRED_TIER.get(purpose)
    if state == "reconsent" and purpose in MATERIAL_PURPOSES:
        valid = False
    if purpose not in purposes:
        return "deny"  # purpose_not_granted
    if basis == "consent" and not valid:
        return "deny"  # consent_invalid
    if classification not in classes:
        return "deny"  # classification_not_granted
    if basis == "contract" and category not in CONTRACT_CATEGORIES:
        return "deny"  # legal_basis_not_allowed
    if basis == "consent" and TIER_RANK[tier] > TIER_RANK[consent_tier or "basic"]:
        return "deny"  # tier_not_covered
    if sensitive and not separate:
        return "deny"  # separate_consent_required
    if field in MASKED and field not in unmasked:
        return "mask"
    return "allow"


def _grant(session: Session, subject: str, purposes: list[str], **extra: Any) -> None:
    from consent import ledger

    now = extra.pop("now", NOW - dt.timedelta(days=30))
    values: dict[str, Any] = {
        "channel": "portal",
        "acted_by": "subject",
        "actor_id": subject,
        "tier": "payment",
        "notice_version": CURRENT_NOTICE,
        "evidence_sha256": EVIDENCE,
    }
    values |= extra
    for purpose in purposes:  # a separate-consent purpose is never granted in a bundle
        ledger.record(
            session,
            ledger.Change(subject=subject, purposes=(purpose,), kind="grant", **values),
            now=now,
        )


def _make_states(session: Session) -> dict[str, str]:
    """One subject per consent state, each with every value of VALUES."""
    from consent import ledger

    subjects: dict[str, str] = {}
    for state in STATES:
        subjects[state] = create_subject(session, VALUES)
    session.flush()
    _grant(session, subjects["granted_payment"], CONSENT_PURPOSES)
    for purpose, tier in REQUIRED_TIER.items():
        _grant(session, subjects["granted_minimum"], [purpose], tier=tier)
    _grant(session, subjects["withdrawn"], CONSENT_PURPOSES)
    ledger.record(
        session,
        ledger.Change(
            subject=subjects["withdrawn"],
            purposes=tuple(CONSENT_PURPOSES),
            kind="withdraw",
            channel="portal",
            acted_by="subject",
            actor_id=subjects["withdrawn"],
        ),
        now=NOW - dt.timedelta(days=1),
    )
    _grant(
        session,
        subjects["expired"],
        CONSENT_PURPOSES,
        valid_until=NOW - dt.timedelta(days=1),
    )
    _grant(
        session,
        subjects["reconsent"],
        CONSENT_PURPOSES,
        notice_version="2026-01",
        now=dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    # Granted while the age was unknown; the birth year recorded later makes a minor.
    _grant(session, subjects["minor_without_guardian"], CONSENT_PURPOSES)
    minor = session.get(Subject, subjects["minor_without_guardian"])
    assert minor is not None
    minor.birth_year = 2016
    guarded = session.get(Subject, subjects["minor_with_guardian"])
    assert guarded is not None
    guarded.birth_year = 2016
    session.flush()
    _grant(
        session,
        subjects["minor_with_guardian"],
        CONSENT_PURPOSES,
        acted_by="guardian",
        actor_id="guardian-fictional-1",
        guardian_evidence_sha256=GUARDIAN_EVIDENCE,
    )
    session.commit()
    return subjects


@pytest.fixture
def state_subjects(app: Flask, catalog: Any) -> Iterator[dict[str, str]]:
    with app.app_context():
        yield _make_states(get_session())


def _actor(name: str) -> Actor:
    kind, roles, purposes, _classes, _unmasked = ACTORS[name]
    if kind == "operator":
        return Actor(
            type="operator",
            id=f"op-{name}",
            roles=frozenset(Role(r) for r in roles),
            mfa_at=NOW - dt.timedelta(minutes=1),
        )
    return Actor(type="service", id="gk_matrixService", purposes=frozenset(purposes))


@pytest.mark.parametrize("actor_name", sorted(ACTORS))
def test_guarded_read_matrix(app: Flask, state_subjects: dict[str, str], actor_name: str) -> None:
    actor = _actor(actor_name)
    wrong: list[str] = []
    outcomes: set[str] = set()
    with app.app_context():
        session = get_session()
        for purpose in PURPOSES:
            for state, subject in state_subjects.items():
                result = read_profile(session, actor, subject, purpose, list(FIELDS), now=NOW)
                for field, read in result.fields.items():
                    want = expected(actor_name, purpose, state, field)
                    if not read.allow:
                        got = "deny"
                        assert read.value is None and read.reasons, (purpose, state, field)
                    elif read.value == VALUES[field] and "mask" not in read.obligations:
                        got = "allow"
                    elif read.value == MASKED.get(field) and "mask" in read.obligations:
                        got = "mask"
                    else:
                        got = f"unexpected value ({read.obligations})"
                    outcomes.add(got)
                    if got != want:
                        wrong.append(f"{purpose} / {state} / {field}: want {want}, got {got}")
    assert wrong == []
    # Each actor that may read anything sees both outcomes somewhere in its matrix.
    if ACTORS[actor_name][2]:
        assert {"allow", "deny"} <= outcomes or {"mask", "deny"} <= outcomes
    else:
        assert outcomes == {"deny"}


def test_the_matrix_covers_every_outcome_and_every_state_matters() -> None:
    outcomes = {
        expected(a, p, s, f) for a in ACTORS for p in PURPOSES for s in STATES for f in FIELDS
    }
    assert outcomes == {"allow", "deny", "mask"}
    # Every denying state denies somewhere a valid grant would allow.
    for state, (valid, _tier) in STATES.items():
        if not valid:
            assert any(
                expected("service", p, "granted_payment", f) != "deny"
                and expected("service", p, state, f) == "deny"
                for p in CONSENT_PURPOSES
                for f in FIELDS
            ), state
