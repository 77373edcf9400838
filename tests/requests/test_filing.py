"""Filing requests: due dates, each kind's immediate effect, one open request per kind."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask

from governance.db import get_session
from governance.profiles.models import Subject
from tests.requests.conftest import entries, file, filed, request_row


def _parse(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_a_request_is_due_fifteen_days_after_it_is_filed_by_default(me: Any, customer: str) -> None:
    made = filed(me, customer, kind="erasure", confirm=True)
    assert made["status"] == "open" and made["overdue"] is False
    assert _parse(made["due_at"]) - _parse(made["created_at"]) == dt.timedelta(days=15)
    assert made["requested_by"] == {"type": "subject", "id": customer}
    assert made["channel"] == "portal"
    assert made["id"].startswith("dsr_")


def test_the_due_period_is_configurable(app_config: dict[str, Any], tmp_path: Any) -> None:
    from governance import create_app
    from governance.db import get_engine
    from governance.models import metadata

    app = create_app({**app_config, "SUBJECT_REQUEST_DUE_DAYS": 10})
    assert app.config["SUBJECT_REQUEST_DUE_DAYS"] == 10
    metadata.create_all(get_engine(app))
    from consent.catalog.loader import load_catalog_file
    from tests.conftest import DEFAULT_CATALOG, ActorClient
    from tests.requests.conftest import VALUES, make_customer

    with app.app_context():
        session = get_session()
        load_catalog_file(session, DEFAULT_CATALOG)
        session.commit()
    subject = make_customer(app, VALUES)
    client = app.test_client()
    from governance.auth import services

    with client.session_transaction() as sess:
        sess.update(actor_type="subject", actor_id=subject, expires_at=services.session_expiry(30))
    made = filed(ActorClient(client), subject, kind="explanation")
    assert _parse(made["due_at"]) - _parse(made["created_at"]) == dt.timedelta(days=10)
    get_engine(app).dispose()


def test_a_due_period_out_of_range_is_refused_at_start_up(app_config: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from governance import create_app

    with pytest.raises(ValidationError, match="subject_request_due_days"):
        create_app({**app_config, "SUBJECT_REQUEST_DUE_DAYS": 0})


@pytest.mark.parametrize("kind", ["access", "portability", "explanation"])
def test_copies_and_explanations_are_completed_as_they_are_filed(
    app: Flask, me: Any, customer: str, kind: str
) -> None:
    made = filed(me, customer, kind=kind)
    assert made["status"] == "completed" and made["closed_at"] is not None
    assert made["result"] == {"code": "done"}
    created = [e for e in entries(app, "subject_request.create") if e.subject_id == customer]
    completed = [e for e in entries(app, "subject_request.complete") if e.subject_id == customer]
    assert len(created) == len(completed) == 1
    assert completed[0].resource == f"request:{made['id']}"


def test_restriction_takes_effect_at_once_and_a_lift_ends_it(
    app: Flask, me: Any, customer: str
) -> None:
    made = filed(me, customer, kind="restriction", reason="unlawful_processing")
    assert made["status"] == "completed" and made["details"] == {"reason": "unlawful_processing"}
    with app.app_context():
        subject = get_session().get(Subject, customer)
        assert subject is not None and subject.restricted_at is not None
    again = file(me, customer, kind="restriction")
    assert again.status_code == 409

    lifted = filed(me, customer, kind="restriction_lift")
    assert lifted["status"] == "completed"
    with app.app_context():
        subject = get_session().get(Subject, customer)
        assert subject is not None and subject.restricted_at is None
    assert file(me, customer, kind="restriction_lift").status_code == 409
    assert [e.subject_id for e in entries(app, "subject.restrict")] == [customer]
    assert [e.subject_id for e in entries(app, "subject.restrict.lift")] == [customer]


def test_an_erasure_must_be_confirmed_and_waits_for_the_dpo(
    app: Flask, me: Any, customer: str
) -> None:
    refused = file(me, customer, kind="erasure")
    assert refused.status_code == 422 and "confirm" in refused.get_json()["errors"]
    made = filed(me, customer, kind="erasure", confirm=True, reason="no_longer_needed")
    assert made["status"] == "open"
    assert made["details"] == {"confirmed": True, "reason": "no_longer_needed"}
    with app.app_context():
        subject = get_session().get(Subject, customer)
        assert subject is not None and subject.erased_at is None


def test_a_second_open_request_of_the_same_kind_is_refused_naming_the_first(
    me: Any, customer: str
) -> None:
    first = filed(me, customer, kind="erasure", confirm=True)
    second = file(me, customer, kind="erasure", confirm=True)
    assert second.status_code == 409
    assert second.get_json()["request"] == first["id"]
    # Kinds answered at once can be asked again.
    filed(me, customer, kind="access")
    filed(me, customer, kind="access")


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "access", "values": {"city": "x"}},
        {"kind": "erasure", "fields": ["city"], "confirm": True},
        {"kind": "explanation", "confirm": True},
        {"kind": "deletion"},
        {"kind": "access", "reason": "because"},
        {"kind": "access", "surprise": 1},
    ],
)
def test_malformed_requests_are_refused_and_nothing_is_written(
    app: Flask, me: Any, customer: str, db_snapshot: Any, body: dict[str, Any]
) -> None:
    before = db_snapshot()
    resp = me.post(f"/api/v1/subjects/{customer}/requests", json=body)
    assert resp.status_code == 422, resp.get_json()
    assert db_snapshot() == before


def test_the_customer_lists_their_requests_newest_first_with_status_and_due_date(
    me: Any, customer: str
) -> None:
    made = [filed(me, customer, kind="access") for _ in range(3)]
    made.append(filed(me, customer, kind="erasure", confirm=True))
    first = me.get(f"/api/v1/subjects/{customer}/requests?limit=2").get_json()
    assert [r["id"] for r in first["items"]] == [made[3]["id"], made[2]["id"]]
    assert first["items"][0]["status"] == "open" and first["items"][0]["due_at"]
    rest = me.get(f"/api/v1/subjects/{customer}/requests?limit=2&before={first['next']}")
    assert [r["id"] for r in rest.get_json()["items"]] == [made[1]["id"], made[0]["id"]]
    assert rest.get_json()["next"] is None
    one = me.get(f"/api/v1/subjects/{customer}/requests/{made[3]['id']}").get_json()
    assert one["kind"] == "erasure" and one["status"] == "open"


def test_an_erased_customer_cannot_file_more_requests(app: Flask, me: Any, customer: str) -> None:
    from governance.auth.actors import Actor
    from governance.profiles.erasure import erase_subject

    with app.app_context():
        erase_subject(get_session(), customer, actor=Actor(type="subject", id=customer))
    assert file(me, customer, kind="access").status_code == 409
    listed = me.get(f"/api/v1/subjects/{customer}/requests")
    assert listed.status_code == 200


def test_the_request_row_names_its_brand_for_the_queue(app: Flask, me: Any, customer: str) -> None:
    made = filed(me, customer, kind="explanation")
    assert request_row(app, made["id"]).brand_id == "default"


def test_a_restriction_denies_every_other_reader_at_once(
    app: Flask, me: Any, customer: str, as_service: Any
) -> None:
    reader = as_service(["marketing_push"], ["profile:read"])
    ask = {"purpose": "marketing_push", "fields": ["city"]}
    before = reader.post(f"/api/v1/profiles/{customer}/read", json=ask).get_json()
    assert before["fields"]["city"]["allow"] is True
    filed(me, customer, kind="restriction")
    after = reader.post(f"/api/v1/profiles/{customer}/read", json=ask).get_json()
    assert after["fields"]["city"]["allow"] is False
    assert "processing_restricted" in after["fields"]["city"]["reasons"]
    filed(me, customer, kind="restriction_lift")
    again = reader.post(f"/api/v1/profiles/{customer}/read", json=ask).get_json()
    assert again["fields"]["city"]["allow"] is True
