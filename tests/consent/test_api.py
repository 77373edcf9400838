"""The consent API as each actor uses it: customers, services, operators, the DPO."""

from __future__ import annotations

from typing import Any

import pytest

from tests.consent.conftest import BEHALF_EVIDENCE, EVIDENCE, GUARDIAN_EVIDENCE

API = "/api/v1/consent"
PROBLEM = "application/problem+json"


def _grant(purposes: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "kind": "grant",
        "purposes": purposes,
        "tier": "behaviour",
        "notice_version": "2026-09",
        "channel": "portal",
        "evidence_sha256": EVIDENCE,
        **extra,
    }


@pytest.fixture
def alice(ledger_db: Any, make_subject: Any) -> str:
    return str(make_subject(1))


@pytest.fixture
def bob(ledger_db: Any, make_subject: Any) -> str:
    return str(make_subject(2))


@pytest.fixture
def checker(as_service: Any) -> Any:
    """A recommender service: checks marketing and recommendation consent."""
    return as_service(["marketing_push", "personalised_recommendation"], ["consent:check"])


@pytest.fixture
def mini_program(as_service: Any) -> Any:
    """The mini-program backend: relays decisions for marketing, checks them too."""
    return as_service(["marketing_push"], ["consent:write", "consent:check"])


def _check(client: Any, subject: str, purpose: str, tier: str = "basic") -> dict[str, Any]:
    resp = client.post(f"{API}/check", json={"subject": subject, "purpose": purpose, "tier": tier})
    assert resp.status_code == 200, resp.get_json()
    body: dict[str, Any] = resp.get_json()
    return body


# -- customers --------------------------------------------------------------------------------


def test_a_customer_grants_and_withdraws_in_one_click_each(
    alice: str, as_subject: Any, checker: Any
) -> None:
    me = as_subject(alice)
    granted = me.post(f"{API}/subjects/{alice}/decisions", json=_grant(["marketing_push"]))
    assert granted.status_code == 201, granted.get_json()
    (event,) = granted.get_json()["events"]
    assert (event["kind"], event["purpose"], event["tier"]) == (
        "grant",
        "marketing_push",
        "behaviour",
    )
    assert event["receipt_id"].startswith("rcpt_")
    assert _check(checker, alice, "marketing_push")["valid"] is True

    withdrawn = me.post(
        f"{API}/subjects/{alice}/decisions",
        json={"kind": "withdraw", "purposes": ["marketing_push"], "channel": "portal"},
    )
    assert withdrawn.status_code == 201
    answer = _check(checker, alice, "marketing_push")
    assert (answer["valid"], answer["reason"]) == (False, "withdrawn")


def test_a_customer_decides_only_for_themselves(
    alice: str, bob: str, as_subject: Any, db_snapshot: Any
) -> None:
    before = db_snapshot()
    resp = as_subject(alice).post(
        f"{API}/subjects/{bob}/decisions", json=_grant(["marketing_push"])
    )
    assert resp.status_code == 403 and resp.mimetype == PROBLEM
    assert db_snapshot() == before


def test_a_refusal_names_its_rule(alice: str, as_subject: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = as_subject(alice).post(
        f"{API}/subjects/{alice}/decisions",
        json=_grant(["marketing_push", "cross_border_transfer"], tier="payment"),
    )
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["type"] == "/problems/consent-refused"
    assert (body["reason"], body["purposes"]) == (
        "separate_consent_not_bundled",
        ["cross_border_transfer"],
    )
    assert db_snapshot() == before


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        (_grant(["no_such_purpose"]), 422, "purposes"),
        (_grant(["marketing_push"], tier="platinum"), 422, "tier"),
        (_grant(["marketing_push"], notice_version="1999-01"), 422, "notice_version"),
        (_grant(["marketing_push"], evidence_sha256="not-a-hash"), 422, "evidence_sha256"),
        (_grant(["marketing_push"], surprise=1), 422, "surprise"),
        ({"kind": "grant", "channel": "portal"}, 422, "purposes"),
    ],
)
def test_bad_input_is_4xx_with_nothing_written(
    alice: str, as_subject: Any, db_snapshot: Any, body: dict[str, Any], status: int, where: str
) -> None:
    before = db_snapshot()
    resp = as_subject(alice).post(f"{API}/subjects/{alice}/decisions", json=body)
    assert resp.status_code == status, resp.get_json()
    assert where in resp.get_json().get("errors", {})
    assert db_snapshot() == before


def test_a_guardian_grant_in_the_portal_needs_evidence(
    ledger_db: Any, make_subject: Any, as_subject: Any, db_snapshot: Any
) -> None:
    child = make_subject(3, birth_year=2016)
    session = as_subject(child)
    before = db_snapshot()
    refused = session.post(
        f"{API}/subjects/{child}/decisions", json=_grant(["marketing_push"], acted_by="guardian")
    )
    assert refused.status_code == 422
    assert refused.get_json()["reason"] == "guardian_evidence_required"
    own = session.post(f"{API}/subjects/{child}/decisions", json=_grant(["marketing_push"]))
    assert own.get_json()["reason"] == "guardian_required"
    assert db_snapshot() == before
    ok = session.post(
        f"{API}/subjects/{child}/decisions",
        json=_grant(
            ["marketing_push"], acted_by="guardian", guardian_evidence_sha256=GUARDIAN_EVIDENCE
        ),
    )
    assert ok.status_code == 201
    assert ok.get_json()["events"][0]["acted_by"] == "guardian"


# -- services ---------------------------------------------------------------------------------


def test_a_service_relays_decisions_only_for_its_purposes(
    alice: str, mini_program: Any, db_snapshot: Any
) -> None:
    ok = mini_program.post(
        f"{API}/subjects/{alice}/decisions", json=_grant(["marketing_push"], channel="mini_program")
    )
    assert ok.status_code == 201, ok.get_json()
    before = db_snapshot()
    outside = mini_program.post(
        f"{API}/subjects/{alice}/decisions", json=_grant(["analytics"], channel="mini_program")
    )
    assert outside.status_code == 403
    assert "analytics" in outside.get_json()["detail"]
    as_portal = mini_program.post(
        f"{API}/subjects/{alice}/decisions", json=_grant(["marketing_push"], channel="portal")
    )
    assert as_portal.status_code == 403
    assert db_snapshot() == before


def test_a_service_checks_only_its_purposes(alice: str, checker: Any, as_service: Any) -> None:
    resp = checker.post(f"{API}/check", json={"subject": alice, "purpose": "analytics"})
    assert resp.status_code == 403
    no_permission = as_service(["marketing_push"])
    resp = no_permission.post(f"{API}/check", json={"subject": alice, "purpose": "marketing_push"})
    assert resp.status_code == 403


def test_a_batch_of_ten_thousand_answers_in_order(
    alice: str, bob: str, decide: Any, checker: Any
) -> None:
    decide(alice, "grant", "marketing_push", tier="basic")
    decide(bob, "refuse", "marketing_push")
    unknown = [f"sub_unknownSubject{n:08d}" for n in range(9_998)]
    subjects = [alice, *unknown[:5000], bob, *unknown[5000:]]
    resp = checker.post(
        f"{API}/check/batch",
        json={"subjects": subjects, "purpose": "marketing_push", "tier": "basic"},
    )
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [r["subject"] for r in results] == subjects
    assert (results[0]["valid"], results[0]["reason"]) == (True, "valid")
    assert results[5001]["reason"] == "refused"
    assert {r["reason"] for r in results[1:5001]} == {"unknown_subject"}
    too_many = checker.post(
        f"{API}/check/batch", json={"subjects": [*subjects, alice], "purpose": "marketing_push"}
    )
    assert too_many.status_code == 422


# -- operators --------------------------------------------------------------------------------


def test_customer_service_records_on_documented_behalf(
    alice: str, as_operator: Any, db_snapshot: Any
) -> None:
    agent = as_operator("customer_service")
    body = _grant(["marketing_push"], channel="store")
    before = db_snapshot()
    refused = agent.post(f"{API}/subjects/{alice}/decisions", json=body)
    assert refused.get_json()["reason"] == "behalf_evidence_required"
    assert db_snapshot() == before
    ok = agent.post(
        f"{API}/subjects/{alice}/decisions",
        json={**body, "behalf_evidence_sha256": BEHALF_EVIDENCE},
    )
    assert ok.status_code == 201
    assert ok.get_json()["events"][0]["acted_by"] == "operator"
    marketing = as_operator("marketing")
    assert marketing.post(f"{API}/subjects/{alice}/decisions", json=body).status_code == 403


# -- state, history, receipts -----------------------------------------------------------------


def test_state_exposes_whether_recommendation_may_be_personalised(
    alice: str, decide: Any, as_subject: Any, checker: Any
) -> None:
    decide(alice, "grant", "personalised_recommendation", "marketing_push", tier="behaviour")
    state = as_subject(alice).get(f"{API}/subjects/{alice}/state").get_json()
    assert state["personalised_recommendation"] is True
    decide(alice, "refuse", "personalised_recommendation")
    seen_by_service = checker.get(f"{API}/subjects/{alice}/state").get_json()
    assert seen_by_service["personalised_recommendation"] is False
    by_purpose = {p["purpose"]: p for p in seen_by_service["purposes"]}
    assert by_purpose["personalised_recommendation"]["reason"] == "refused"
    assert by_purpose["marketing_push"]["valid"] is True


def test_a_service_sees_only_the_state_of_its_purposes(
    alice: str, decide: Any, checker: Any
) -> None:
    decide(alice, "grant", "analytics", "marketing_push", tier="behaviour")
    purposes = [
        p["purpose"] for p in checker.get(f"{API}/subjects/{alice}/state").get_json()["purposes"]
    ]
    assert purposes == ["marketing_push"]


def test_history_is_the_subjects_own_newest_first(
    alice: str, bob: str, decide: Any, as_subject: Any, as_dpo: Any
) -> None:
    decide(alice, "grant", "marketing_push", tier="basic")
    decide(alice, "withdraw", "marketing_push")
    decide(alice, "refuse", "analytics")
    me = as_subject(alice)
    page = me.get(f"{API}/subjects/{alice}/history", query_string={"limit": 2}).get_json()
    assert [e["kind"] for e in page["items"]] == ["refuse", "withdraw"]
    rest = me.get(
        f"{API}/subjects/{alice}/history", query_string={"limit": 2, "before": page["next"]}
    ).get_json()
    assert [e["kind"] for e in rest["items"]] == ["grant"] and rest["next"] is None
    first = rest["items"][0]
    assert (first["notice_version"], first["channel"]) == ("2026-09", "portal")
    assert as_subject(bob).get(f"{API}/subjects/{alice}/history").status_code == 403
    assert len(as_dpo.get(f"{API}/subjects/{alice}/history").get_json()["items"]) == 3


def test_a_customer_downloads_their_receipts_and_no_one_elses(
    alice: str, bob: str, as_subject: Any, as_dpo: Any
) -> None:
    me = as_subject(alice)
    event = me.post(
        f"{API}/subjects/{alice}/decisions", json=_grant(["marketing_push"])
    ).get_json()["events"][0]
    resp = me.get(f"{API}/receipts/{event['receipt_id']}")
    assert resp.status_code == 200 and resp.mimetype == "application/jose"
    assert resp.get_data(as_text=True).count(".") == 2
    assert as_subject(bob).get(f"{API}/receipts/{event['receipt_id']}").status_code == 404
    assert as_dpo.get(f"{API}/receipts/{event['receipt_id']}").status_code == 200
