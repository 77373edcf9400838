"""The DPO's queue: permission, filters, keyset pages, transitions, brands, erasure step-up."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from governance.brands import create_brand
from governance.db import get_session
from governance.profiles.models import ProfileValue, Subject
from governance.profiles.vault import SubjectKey
from governance.requests.models import SubjectRequest
from tests.requests.conftest import OTHER_VALUES, entries, filed, make_customer, request_row


def _age(app: Flask, request_id: str, days: int) -> None:
    """Move a request's dates ``days`` into the past (as if filed then)."""
    with app.app_context():
        session = get_session()
        row = session.get(SubjectRequest, request_id)
        assert row is not None
        session.execute(
            update(SubjectRequest)
            .where(SubjectRequest.id == request_id)
            .values(
                created_at=row.created_at - dt.timedelta(days=days),
                due_at=row.due_at - dt.timedelta(days=days),
            )
        )
        session.commit()


@pytest.mark.parametrize("role", ["admin", "marketing", "customer_service", "analyst"])
def test_only_the_dpo_works_the_queue(as_operator: Any, as_dpo: Any, role: str) -> None:
    assert as_operator(role).get("/api/v1/requests").status_code == 403
    assert as_dpo.get("/api/v1/requests").status_code == 200


def test_services_and_customers_cannot_work_the_queue(
    as_service: Any, me: Any, customer: str
) -> None:
    made = filed(me, customer, kind="erasure", confirm=True)
    service = as_service(["marketing_push"], ["profile:read", "profile:write"])
    assert service.get("/api/v1/requests").status_code == 403
    assert me.get("/api/v1/requests").status_code == 403
    assert me.post(f"/api/v1/requests/{made['id']}/erase").status_code == 403
    assert (
        me.post(f"/api/v1/requests/{made['id']}/reject", json={"reason": "other"}).status_code
        == 403
    )


def test_the_queue_is_sorted_by_due_date_filtered_and_keyset_paged(
    app: Flask, as_dpo: Any, as_subject: Any, customer: str, other: str, me: Any
) -> None:
    them = as_subject(other)
    erase_me = filed(me, customer, kind="erasure", confirm=True)
    fix_me = filed(me, customer, kind="correction", fields=["member_level"])
    erase_them = filed(them, other, kind="erasure", confirm=True)
    done = filed(them, other, kind="explanation")
    _age(app, erase_them["id"], 20)  # overdue
    _age(app, fix_me["id"], 3)

    page = as_dpo.get("/api/v1/requests").get_json()
    ids = [r["id"] for r in page["items"]]
    assert ids == [erase_them["id"], fix_me["id"], erase_me["id"]]  # open ones, oldest due first
    assert [r["overdue"] for r in page["items"]] == [True, False, False]

    first = as_dpo.get("/api/v1/requests?limit=2").get_json()
    assert [r["id"] for r in first["items"]] == ids[:2]
    rest = as_dpo.get(f"/api/v1/requests?limit=2&after={first['next']}").get_json()
    assert [r["id"] for r in rest["items"]] == ids[2:] and rest["next"] is None

    overdue = as_dpo.get("/api/v1/requests?overdue=true").get_json()["items"]
    assert [r["id"] for r in overdue] == [erase_them["id"]]
    corrections = as_dpo.get("/api/v1/requests?kind=correction").get_json()["items"]
    assert [r["id"] for r in corrections] == [fix_me["id"]]
    completed = as_dpo.get("/api/v1/requests?status=completed").get_json()["items"]
    assert [r["id"] for r in completed] == [done["id"]]
    mine = as_dpo.get(f"/api/v1/requests?subject={customer}").get_json()["items"]
    assert {r["id"] for r in mine} == {erase_me["id"], fix_me["id"]}
    assert as_dpo.get("/api/v1/requests?after=not-a-cursor").status_code == 422
    assert as_dpo.get("/api/v1/requests?status=lost").status_code == 422


def test_start_complete_and_reject_are_audited_and_closed_requests_stay_closed(
    app: Flask, as_dpo: Any, me: Any, customer: str
) -> None:
    fix = filed(me, customer, kind="correction", fields=["member_level"])
    started = as_dpo.post(f"/api/v1/requests/{fix['id']}/start")
    assert started.status_code == 200 and started.get_json()["status"] == "in_progress"
    handler = started.get_json()["handled_by"]
    assert handler
    done = as_dpo.post(
        f"/api/v1/requests/{fix['id']}/complete",
        json={
            "note": "Checked the membership records; level corrected.",
            "fields": ["member_level"],
        },
    )
    assert done.status_code == 200, done.get_json()
    body = done.get_json()
    assert body["status"] == "completed" and body["closed_at"]
    assert body["result"]["fields"] == ["member_level"]
    assert as_dpo.post(f"/api/v1/requests/{fix['id']}/start").status_code == 409
    assert (
        as_dpo.post(f"/api/v1/requests/{fix['id']}/reject", json={"reason": "other"}).status_code
        == 409
    )
    # The customer sees the outcome.
    seen = me.get(f"/api/v1/subjects/{customer}/requests/{fix['id']}").get_json()
    assert seen["status"] == "completed"

    erase = filed(me, customer, kind="erasure", confirm=True)
    rejected = as_dpo.post(
        f"/api/v1/requests/{erase['id']}/reject", json={"reason": "legal_retention"}
    )
    assert rejected.status_code == 200 and rejected.get_json()["result"] == {
        "code": "legal_retention"
    }
    actions = {
        e.action: json.loads(e.details)
        for e in entries(app, "subject_request.start") + entries(app, "subject_request.reject")
    }
    assert actions["subject_request.start"]["request"] == fix["id"]
    assert actions["subject_request.reject"]["code"] == "legal_retention"
    assert (
        as_dpo.post(
            f"/api/v1/requests/{erase['id']}/reject", json={"reason": "because"}
        ).status_code
        == 422
    )


def test_a_note_with_personal_information_is_refused(as_dpo: Any, me: Any, customer: str) -> None:
    fix = filed(me, customer, kind="correction", fields=["member_level"])
    resp = as_dpo.post(
        f"/api/v1/requests/{fix['id']}/complete",
        json={"note": "Called her on 13812345678."},
    )
    assert resp.status_code == 422
    assert "13812345678" not in resp.get_data(as_text=True)
    assert as_dpo.get(f"/api/v1/requests/{fix['id']}").get_json()["status"] == "open"


def test_an_erasure_is_not_marked_done_without_being_executed(
    as_dpo: Any, me: Any, customer: str
) -> None:
    erase = filed(me, customer, kind="erasure", confirm=True)
    assert as_dpo.post(f"/api/v1/requests/{erase['id']}/complete", json={}).status_code == 409


def test_an_erasure_needs_a_fresh_second_factor(
    app: Flask, as_stale_dpo: Any, me: Any, customer: str
) -> None:
    erase = filed(me, customer, kind="erasure", confirm=True)
    resp = as_stale_dpo().post(f"/api/v1/requests/{erase['id']}/erase")
    assert resp.status_code == 403
    assert resp.get_json()["type"] == "/problems/step-up-required"
    with app.app_context():
        subject = get_session().get(Subject, customer)
        assert subject is not None and subject.erased_at is None
    assert request_row(app, erase["id"]).status == "open"


def test_the_dpo_executes_an_erasure_and_completes_the_request(
    app: Flask, as_dpo: Any, me: Any, customer: str
) -> None:
    erase = filed(me, customer, kind="erasure", confirm=True)
    resp = as_dpo.post(f"/api/v1/requests/{erase['id']}/erase")
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "completed"
    result = body["result"]
    assert result["code"] == "erased" and result["key_destroyed"] is True
    assert result["values_deleted"] > 0
    assert sorted(result["withdrawn"]) == ["analytics", "marketing_push"]
    assert len(result["evidence_sha256"]) == 64
    with app.app_context():
        session = get_session()
        subject = session.get(Subject, customer)
        assert subject is not None and subject.erased_at is not None
        assert session.get(SubjectKey, customer) is None
        assert session.get(ProfileValue, (customer, "city")) is None
    erased = [e for e in entries(app, "profile.erase") if e.subject_id == customer]
    assert len(erased) == 1 and erased[0].seq == result["erase_audit_seq"]
    assert as_dpo.post(f"/api/v1/requests/{erase['id']}/erase").status_code == 409
    # The customer sees it done; their earlier copy can no longer reveal anything.
    assert (
        me.get(f"/api/v1/subjects/{customer}/requests/{erase['id']}").get_json()["status"]
        == "completed"
    )


def test_only_an_erasure_request_is_executed(as_dpo: Any, me: Any, customer: str) -> None:
    fix = filed(me, customer, kind="correction", fields=["member_level"])
    assert as_dpo.post(f"/api/v1/requests/{fix['id']}/erase").status_code == 409


def test_operators_of_one_brand_see_only_their_brands_requests(
    app: Flask, as_operator: Any, as_subject: Any, me: Any, customer: str
) -> None:
    with app.app_context():
        session = get_session()
        create_brand(session, "brand-b", "Brand B (fictional)")
        session.commit()
    theirs = make_customer(app, OTHER_VALUES, brand="brand-b")
    b_request = filed(as_subject(theirs), theirs, kind="erasure", confirm=True)
    a_request = filed(me, customer, kind="erasure", confirm=True)

    b_dpo = as_operator("dpo", brand="brand-b")
    assert [r["id"] for r in b_dpo.get("/api/v1/requests").get_json()["items"]] == [b_request["id"]]
    assert b_dpo.get(f"/api/v1/requests/{a_request['id']}").status_code == 404
    assert b_dpo.post(f"/api/v1/requests/{a_request['id']}/start").status_code == 404
    assert b_dpo.post(f"/api/v1/requests/{a_request['id']}/erase").status_code == 404
    group_dpo = as_operator("dpo")
    assert {r["id"] for r in group_dpo.get("/api/v1/requests").get_json()["items"]} == {
        a_request["id"],
        b_request["id"],
    }


def test_the_overdue_command_lists_overdue_requests_and_fails(
    app: Flask, me: Any, customer: str
) -> None:
    erase = filed(me, customer, kind="erasure", confirm=True)
    runner = app.test_cli_runner()
    calm = runner.invoke(args=["requests", "list", "--overdue"])
    assert calm.exit_code == 0 and calm.output == ""
    _age(app, erase["id"], 16)
    late = runner.invoke(args=["requests", "list", "--overdue"])
    assert late.exit_code == 1
    assert late.output.split("\t")[:3] == [erase["id"], "erasure", "open"]
    listed = runner.invoke(args=["requests", "list"])
    assert listed.exit_code == 0 and erase["id"] in listed.output
