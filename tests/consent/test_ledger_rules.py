"""The PIPL rules the ledger enforces, each refused with its exact reason, nothing written.

Purposes of the default catalog: marketing_push (basic), personalised_recommendation and
analytics (behaviour), customer_service (contract, no consent), and three needing separate
consent: joint_modelling_partner_bank (payment, third party), provision_logistics (third
party), cross_border_transfer (abroad). Notice 2026-01 names them all; 2026-09 is a
material change for joint modelling and the transfer abroad.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from consent import ledger
from consent.models import ConsentEvent
from governance.errors import ApiError
from tests.consent.conftest import (
    BEHALF_EVIDENCE,
    EVIDENCE,
    GUARDIAN_EVIDENCE,
    NOW,
)

SEPARATE = ("joint_modelling_partner_bank", "provision_logistics", "cross_border_transfer")


@pytest.fixture
def adult(ledger_db: Any, make_subject: Any) -> str:
    return str(make_subject(1, birth_year=1990))


@pytest.fixture
def child(ledger_db: Any, make_subject: Any) -> str:
    return str(make_subject(2, birth_year=2015))  # 11 in 2026


def _refused(decide: Any, db_snapshot: Any, *args: Any, **kwargs: Any) -> ApiError:
    before = db_snapshot()
    with pytest.raises(ApiError) as refused:
        decide(*args, **kwargs)
    assert db_snapshot() == before, "a refused decision wrote something"
    return refused.value


def _reason(error: ApiError) -> str:
    assert error.problem.slug == "consent-refused", error.detail
    return str(error.members["reason"])


# -- grants, and what a check sees -----------------------------------------------------------


def test_a_grant_is_valid_at_its_tier_and_below(adult: str, decide: Any, check: Any) -> None:
    decide(adult, "grant", "personalised_recommendation", tier="behaviour")
    assert check(adult, "personalised_recommendation", "basic").valid
    assert check(adult, "personalised_recommendation", "behaviour").valid
    above = check(adult, "personalised_recommendation", "payment")
    assert (above.valid, above.reason, above.tier) == (False, "tier_insufficient", "behaviour")


def test_never_granted(adult: str, check: Any) -> None:
    answer = check(adult, "marketing_push")
    assert (answer.valid, answer.reason) == (False, "never_granted")


def test_a_purpose_on_another_legal_basis_needs_no_consent(adult: str, check: Any) -> None:
    answer = check(adult, "customer_service")
    assert (answer.valid, answer.reason) == (True, "legal_basis")


def test_another_legal_basis_still_needs_a_subject_the_asker_may_see(
    app: Any, ledger_db: Any, adult: str, check: Any
) -> None:
    from consent import ledger
    from consent.tiers import Tier
    from governance.brands import create_brand
    from governance.db import get_session
    from governance.profiles.models import Subject

    assert check("sub_doesNotExist0000000000", "customer_service").reason == "unknown_subject"
    with app.app_context():
        session = get_session()
        create_brand(session, "brand-b", "Brand B (fictional)")
        session.commit()
        other = ledger.check(session, adult, "customer_service", Tier.BASIC, brand="brand-b")
        assert (other.valid, other.reason) == (False, "unknown_subject")
        subject = session.get(Subject, adult)
        assert subject is not None
        subject.erased_at = subject.created_at
        session.commit()
    assert check(adult, "customer_service").reason == "subject_erased"


def test_unknown_and_erased_subjects(
    ledger_db: Any, make_subject: Any, adult: str, check: Any
) -> None:
    from governance.profiles.models import Subject

    assert check("sub_doesNotExist0000000000", "marketing_push").reason == "unknown_subject"
    erased = ledger_db.get(Subject, adult)
    erased.erased_at = NOW
    ledger_db.commit()
    assert check(adult, "marketing_push").reason == "subject_erased"


# -- art. 15: withdrawal, at once ------------------------------------------------------------


def test_withdrawal_counts_for_every_check_after_it_commits(
    adult: str, decide: Any, check: Any
) -> None:
    decide(adult, "grant", "marketing_push", tier="basic")
    assert check(adult, "marketing_push").valid
    later = NOW + dt.timedelta(seconds=1)
    decide(adult, "withdraw", "marketing_push", now=later)
    answer = check(adult, "marketing_push", now=later)
    assert (answer.valid, answer.reason, answer.at) == (False, "withdrawn", later)


def test_withdrawing_twice_is_one_withdrawal(adult: str, decide: Any, ledger_db: Any) -> None:
    decide(adult, "grant", "marketing_push", tier="basic")
    first = decide(adult, "withdraw", "marketing_push")
    second = decide(adult, "withdraw", "marketing_push")
    assert (len(first.events), first.unchanged) == (1, [])
    assert (second.events, second.unchanged) == ([], ["marketing_push"])
    kinds = ledger_db.scalars(select(ConsentEvent.kind).order_by(ConsentEvent.id)).all()
    assert kinds == ["grant", "withdraw"]


# -- art. 16: refusing one purpose affects no other ------------------------------------------


def test_refusing_an_optional_purpose_leaves_the_others_alone(
    adult: str, decide: Any, check: Any
) -> None:
    decide(adult, "grant", "marketing_push", "analytics", tier="behaviour")
    decide(adult, "refuse", "personalised_recommendation", evidence_sha256=EVIDENCE)
    assert check(adult, "personalised_recommendation").reason == "refused"
    assert check(adult, "marketing_push").valid
    assert check(adult, "analytics", "behaviour").valid


def test_art_24_recommendation_refused_while_the_service_goes_on(
    adult: str, decide: Any, check: Any
) -> None:
    decide(adult, "refuse", "personalised_recommendation")
    assert check(adult, "personalised_recommendation").reason == "refused"
    assert check(adult, "customer_service").valid  # the service itself goes on


# -- separate consent (arts. 23, 25, 29, 39) -------------------------------------------------


@pytest.mark.parametrize("purpose", SEPARATE)
def test_a_separate_consent_purpose_is_never_granted_in_a_bundle(
    adult: str, decide: Any, db_snapshot: Any, purpose: str
) -> None:
    error = _refused(decide, db_snapshot, adult, "grant", "marketing_push", purpose)
    assert _reason(error) == "separate_consent_not_bundled"
    assert error.members["purposes"] == [purpose]


def test_there_is_no_accept_all_that_hides_separate_purposes(
    adult: str, decide: Any, db_snapshot: Any
) -> None:
    everything = (
        "marketing_push",
        "personalised_recommendation",
        "analytics",
        *SEPARATE,
    )
    error = _refused(decide, db_snapshot, adult, "grant", *everything)
    assert _reason(error) == "separate_consent_not_bundled"
    assert sorted(error.members["purposes"]) == sorted(SEPARATE)


def test_withdrawing_everything_at_once_includes_separate_purposes(
    adult: str, decide: Any, check: Any
) -> None:
    decide(adult, "grant", "marketing_push")
    for purpose in SEPARATE:
        decide(adult, "grant", purpose)
    recorded = decide(adult, "withdraw", "marketing_push", *SEPARATE)
    assert sorted(e.purpose for e in recorded.events) == sorted(["marketing_push", *SEPARATE])
    assert {check(adult, p).reason for p in ("marketing_push", *SEPARATE)} == {"withdrawn"}


@pytest.mark.parametrize("purpose", SEPARATE)
def test_a_separate_consent_purpose_alone_is_granted(
    adult: str, decide: Any, check: Any, purpose: str
) -> None:
    decide(adult, "grant", purpose)
    assert check(adult, purpose, "basic").valid


# -- art. 31: under 14, a guardian -----------------------------------------------------------


def test_a_child_cannot_grant(child: str, decide: Any, db_snapshot: Any) -> None:
    error = _refused(decide, db_snapshot, child, "grant", "marketing_push", tier="basic")
    assert _reason(error) == "guardian_required"


def test_a_guardian_grants_for_a_child(child: str, decide: Any, check: Any) -> None:
    decide(
        child,
        "grant",
        "marketing_push",
        tier="basic",
        acted_by="guardian",
        guardian_evidence_sha256=GUARDIAN_EVIDENCE,
    )
    assert check(child, "marketing_push").valid


def test_a_guardian_grant_without_evidence_is_refused(
    child: str, decide: Any, db_snapshot: Any
) -> None:
    error = _refused(
        decide, db_snapshot, child, "grant", "marketing_push", tier="basic", acted_by="guardian"
    )
    assert _reason(error) == "guardian_evidence_required"


def test_the_year_someone_may_still_be_13_counts_as_under_14(
    ledger_db: Any, make_subject: Any, decide: Any, db_snapshot: Any
) -> None:
    fourteen_or_thirteen = make_subject(3, birth_year=2012)  # 2026 - 2012 = 14
    fifteen = make_subject(4, birth_year=2011)
    error = _refused(decide, db_snapshot, fourteen_or_thirteen, "grant", "marketing_push")
    assert _reason(error) == "guardian_required"
    assert decide(fifteen, "grant", "marketing_push").events


def test_a_child_may_still_withdraw(child: str, decide: Any, check: Any) -> None:
    decide(
        child,
        "grant",
        "marketing_push",
        acted_by="guardian",
        guardian_evidence_sha256=GUARDIAN_EVIDENCE,
    )
    decide(child, "withdraw", "marketing_push")
    assert check(child, "marketing_push").reason == "withdrawn"


def test_a_grant_made_before_the_birth_year_was_known_needs_a_guardian(
    ledger_db: Any, make_subject: Any, decide: Any, check: Any
) -> None:
    from governance.profiles.models import Subject

    unknown_age = make_subject(5, birth_year=None)
    decide(unknown_age, "grant", "marketing_push")
    ledger_db.get(Subject, unknown_age).birth_year = 2016
    ledger_db.commit()
    assert check(unknown_age, "marketing_push").reason == "guardian_required"


# -- art. 14: a material notice change needs re-consent --------------------------------------


def test_a_grant_under_the_old_notice_needs_reconsent_after_a_material_change(
    adult: str, decide: Any, check: Any
) -> None:
    before_change = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    decide(adult, "grant", "cross_border_transfer", notice_version="2026-01", now=before_change)
    assert check(adult, "cross_border_transfer", now=before_change).valid
    answer = check(adult, "cross_border_transfer")  # after 2026-09 took effect
    assert (answer.valid, answer.reason, answer.notice_version) == (
        False,
        "reconsent_required",
        "2026-01",
    )
    decide(adult, "grant", "cross_border_transfer", notice_version="2026-09")
    assert check(adult, "cross_border_transfer").valid


def test_purposes_the_change_did_not_name_keep_their_grants(
    adult: str, decide: Any, check: Any
) -> None:
    decide(
        adult,
        "grant",
        "marketing_push",
        notice_version="2026-01",
        now=dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
    )
    assert check(adult, "marketing_push").valid


def test_a_grant_citing_a_superseded_notice_is_refused(
    adult: str, decide: Any, db_snapshot: Any
) -> None:
    error = _refused(
        decide,
        db_snapshot,
        adult,
        "grant",
        "joint_modelling_partner_bank",
        notice_version="2026-01",
    )
    assert _reason(error) == "notice_superseded"
    assert error.members["purposes"] == ["joint_modelling_partner_bank"]


def test_a_notice_not_yet_in_effect_is_refused(adult: str, decide: Any, db_snapshot: Any) -> None:
    error = _refused(
        decide,
        db_snapshot,
        adult,
        "grant",
        "marketing_push",
        notice_version="2026-09",
        now=dt.datetime(2026, 8, 1, tzinfo=dt.UTC),
    )
    assert _reason(error) == "notice_not_in_effect"


# -- expiry ----------------------------------------------------------------------------------


def test_an_expired_grant_stops_counting_without_a_job(adult: str, decide: Any, check: Any) -> None:
    until = NOW + dt.timedelta(days=30)
    decide(adult, "grant", "marketing_push", valid_until=until)
    assert check(adult, "marketing_push", now=until - dt.timedelta(seconds=1)).valid
    answer = check(adult, "marketing_push", now=until)
    assert (answer.valid, answer.reason, answer.at) == (False, "expired", until)


def test_a_validity_in_the_past_is_refused(adult: str, decide: Any, db_snapshot: Any) -> None:
    error = _refused(
        decide, db_snapshot, adult, "grant", "marketing_push", valid_until=NOW - dt.timedelta(1)
    )
    assert error.problem.slug == "validation-error" and "valid_until" in (error.errors or {})


# -- who acts --------------------------------------------------------------------------------


def test_an_operator_needs_documented_behalf(adult: str, decide: Any, db_snapshot: Any) -> None:
    error = _refused(
        decide, db_snapshot, adult, "grant", "marketing_push", acted_by="operator", actor_id="7"
    )
    assert _reason(error) == "behalf_evidence_required"
    recorded = decide(
        adult,
        "grant",
        "marketing_push",
        acted_by="operator",
        actor_id="7",
        channel="store",
        behalf_evidence_sha256=BEHALF_EVIDENCE,
    )
    assert recorded.events[0].behalf_evidence_sha256 == BEHALF_EVIDENCE


# -- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purposes", "fields", "slug", "where"),
    [
        (("no_such_purpose",), {}, "validation-error", "purposes"),
        (("marketing_push",), {"tier": "platinum"}, "validation-error", "tier"),
        (("marketing_push",), {"notice_version": "1999-01"}, "validation-error", "notice_version"),
        (("marketing_push",), {"evidence_sha256": None}, "validation-error", "evidence_sha256"),
        (("marketing_push",), {"evidence_sha256": "ABC"}, "validation-error", "evidence_sha256"),
        (("marketing_push",), {"channel": "fax"}, "validation-error", "channel"),
        (("marketing_push", "marketing_push"), {}, "validation-error", "purposes"),
        ((), {}, "validation-error", "purposes"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(
    adult: str,
    decide: Any,
    db_snapshot: Any,
    purposes: tuple[str, ...],
    fields: dict[str, Any],
    slug: str,
    where: str,
) -> None:
    error = _refused(decide, db_snapshot, adult, "grant", *purposes, **fields)
    assert error.problem.slug == slug
    assert where in (error.errors or {})


def test_consent_is_not_asked_for_a_contract_purpose(
    adult: str, decide: Any, db_snapshot: Any
) -> None:
    error = _refused(decide, db_snapshot, adult, "refuse", "customer_service")
    assert _reason(error) == "consent_not_applicable"


def test_a_tier_below_what_the_purpose_needs_is_refused(
    adult: str, decide: Any, db_snapshot: Any
) -> None:
    error = _refused(decide, db_snapshot, adult, "grant", "analytics", tier="basic")
    assert _reason(error) == "tier_below_required"


def test_an_unknown_subject_is_404(ledger_db: Any, decide: Any, db_snapshot: Any) -> None:
    error = _refused(decide, db_snapshot, "sub_doesNotExist0000000000", "grant", "marketing_push")
    assert error.problem.slug == "not-found"


# -- every event is an audit entry, and the projection is the replay ------------------------


def test_every_event_is_an_audit_entry(adult: str, decide: Any, ledger_db: Any) -> None:
    from audit.log import entry_row

    recorded = decide(adult, "grant", "marketing_push", "analytics", tier="behaviour")
    recorded_w = decide(adult, "withdraw", "analytics")
    for event in [*recorded.events, *recorded_w.events]:
        row = entry_row(ledger_db, event.audit_seq)
        assert row is not None
        assert (row["action"], row["subject_id"], row["purpose"]) == (
            f"consent.{event.kind}",
            adult,
            event.purpose,
        )


def test_the_projection_equals_the_replay_and_rebuilds(
    adult: str, child: str, decide: Any, ledger_db: Any
) -> None:
    decide(adult, "grant", "marketing_push", "analytics", tier="behaviour")
    decide(adult, "withdraw", "marketing_push")
    decide(adult, "refuse", "personalised_recommendation")
    decide(child, "grant", "marketing_push", acted_by="guardian",
           guardian_evidence_sha256=GUARDIAN_EVIDENCE)  # fmt: skip
    assert ledger.differences(ledger_db) == []
    ledger_db.execute(ledger.STATES.delete().where(ledger.STATES.c.purpose == "analytics"))
    ledger_db.commit()
    assert ledger.differences(ledger_db) == [(adult, "analytics")]
    assert ledger.rebuild(ledger_db) == 1
    ledger_db.commit()
    assert ledger.differences(ledger_db) == []


def test_events_are_append_only(adult: str, decide: Any, ledger_db: Any, app: Any) -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    from consent.models import APPEND_ONLY
    from governance.db import get_engine

    decide(adult, "grant", "marketing_push")
    for statement in ("UPDATE consent_events SET tier = 'payment'", "DELETE FROM consent_events"):
        with pytest.raises(DatabaseError, match=APPEND_ONLY), get_engine(app).begin() as conn:
            conn.execute(text(statement))


def test_sweep_records_what_checks_already_apply(
    adult: str, decide: Any, ledger_db: Any, check: Any
) -> None:
    decide(adult, "grant", "marketing_push", valid_until=NOW + dt.timedelta(days=1))
    decide(adult, "grant", "cross_border_transfer", notice_version="2026-01",
           now=dt.datetime(2026, 5, 1, tzinfo=dt.UTC))  # fmt: skip
    counts = ledger.sweep(ledger_db, now=NOW + dt.timedelta(days=2))
    ledger_db.commit()
    assert counts == {"expire": 1, "reconsent_required": 1}
    assert ledger.sweep(ledger_db, now=NOW + dt.timedelta(days=2)) == {
        "expire": 0,
        "reconsent_required": 0,
    }
    later = NOW + dt.timedelta(days=2)
    assert check(adult, "marketing_push", now=later).reason == "expired"
    assert check(adult, "cross_border_transfer", now=later).reason == "reconsent_required"
    assert ledger.differences(ledger_db) == []
