"""The policy API: batch decisions (audited, PII-free) and the OPA-compatible Data API."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.serving import make_server

import policies
from audit.models import AuditEntry
from governance.db import get_session
from policies.opa import OpaEngine
from tests.consent.conftest import CURRENT_NOTICE, subject_id

API = "/api/v1/policy/decisions"
EVIDENCE = hashlib.sha256(b"fictional notice and choices").hexdigest()


@pytest.fixture
def alice(ledger_db: Any, make_subject: Any, decide: Any) -> str:
    """A customer who granted marketing at the basic tier (fictional)."""
    subject = str(make_subject(1))
    decide(subject, "grant", "marketing_push", tier="basic", notice_version=CURRENT_NOTICE)
    return subject


@pytest.fixture
def crm(as_service: Any) -> Any:
    """A marketing service allowed to ask about marketing."""
    return as_service(["marketing_push"], ["policy:check"])


def _ask(client: Any, *questions: dict[str, Any]) -> Any:
    return client.post(API, json={"questions": list(questions)})


def test_a_batch_is_decided_field_by_field_and_audited(app: Flask, alice: str, crm: Any) -> None:
    resp = _ask(
        crm,
        {"subject": alice, "purpose": "marketing_push", "fields": ["nickname", "bank_card_number"]},
        {"subject": subject_id(99), "purpose": "marketing_push", "fields": ["nickname"]},
    )
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    first, unknown = body["results"]
    assert first["fields"]["nickname"]["allow"] is True
    assert first["fields"]["bank_card_number"]["allow"] is False
    assert first["fields"]["bank_card_number"]["reasons"]
    assert unknown["fields"]["nickname"] == {
        "allow": False,
        "reasons": ["unknown_subject"],
        "obligations": [],
    }
    with app.app_context():
        assert body["bundle_hash"] == policies.service().bundle_hash
        entries = (
            get_session()
            .scalars(
                select(AuditEntry)
                .where(AuditEntry.action == "policy.decide")
                .order_by(AuditEntry.seq)
            )
            .all()
        )
    assert [(e.subject_id, e.decision) for e in entries] == [
        (alice, "allow"),
        (subject_id(99), "deny"),
    ]
    assert all(e.policy_hash == body["bundle_hash"] for e in entries)
    assert json.loads(entries[0].details)["denied"] == ["bank_card_number"]


def test_questions_outside_the_catalog_are_refused_with_nothing_written(
    alice: str, crm: Any, db_snapshot: Any
) -> None:
    before = db_snapshot()
    resp = _ask(crm, {"subject": alice, "purpose": "marketing_push", "fields": ["shoe_size"]})
    assert resp.status_code == 422
    assert resp.get_json()["errors"]["questions.0.fields"] == [
        "Not in the catalog: the field(s) at position 0."
    ]
    assert db_snapshot() == before
    echoed = _ask(crm, {"subject": alice, "purpose": "marketing_push", "fields": [PII[0]]})
    assert echoed.status_code == 422 and PII[0] not in echoed.get_data(as_text=True)


PII = ["13812345678", "ana.fictional@example.com", "110101199003074593"]


def test_no_decision_is_audited_with_a_pii_value(
    app: Flask, alice: str, crm: Any, as_service: Any
) -> None:
    """PII seeded into every place a caller controls; the audit table never holds it."""
    for value in PII:
        _ask(crm, {"subject": alice, "purpose": value, "fields": ["nickname"]})
        _ask(crm, {"subject": alice, "purpose": "marketing_push", "fields": [value]})
        _ask(crm, {"subject": value, "purpose": "marketing_push", "fields": ["nickname"]})
    opa = as_service([], ["policy:check"])
    for value in PII:
        opa.post(
            "/v1/data/governance/access/decision",
            json={"input": {"fields": [{"name": value}], "actor": {"id": value}}},
        )
    with app.app_context():
        rows = get_session().execute(select(AuditEntry)).all()
    dump = json.dumps([repr(tuple(r[0].__dict__.values())) for r in rows])
    assert rows, "the decisions were audited"
    for value in PII:
        assert value not in dump


# -- OPA-compatible Data API ---------------------------------------------------------------------


def test_the_data_api_answers_like_opa(app: Flask, as_service: Any) -> None:
    client = as_service([], ["policy:check"])
    question = {"input": {"actor": {"type": "nobody"}, "fields": [{"name": "nickname"}]}}
    resp = client.post("/v1/data/governance/access/decision", json=question)
    assert resp.status_code == 200
    result = resp.get_json()["result"]
    assert result["fields"]["nickname"]["allow"] is False
    undefined = client.post("/v1/data/governance/access/no_such_rule", json={"input": {}})
    assert undefined.status_code == 200 and undefined.get_json() == {}
    refused = as_service([], ["catalog:read"]).post(
        "/v1/data/governance/access/decision", json=question
    )
    assert refused.status_code == 403


@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """The app on a real loopback port (as an OPA server would be)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def _token(app: Flask) -> str:
    from governance.auth import services

    with app.app_context():
        db = get_session()
        new = services.create_api_key(
            db, "opa client (fictional)", [], ["policy:check"], known_purposes=set()
        )
        db.commit()
    return new.token


def test_opa_python_client_round_trip(app: Flask, catalog: Any, served: str) -> None:
    """opa-python-client queries the platform as it would query OPA."""
    from opa_client import OpaClient

    host, port = served.removeprefix("http://").split(":")
    client = OpaClient(host=host, port=int(port), token=_token(app))
    question = {
        "actor": {"type": "operator", "id": "7", "roles": ["marketing"], "purposes": []},
        "purpose": {"id": "marketing_push", "legal_basis": "consent", "separate_consent": False},
        "consent": {"valid": True, "reason": "valid", "tier": "basic", "by_guardian": False},
        "subject": {"minor": False},
        "personalised_recommendation": True,
        "fields": [
            {
                "name": "nickname",
                "category": "profile",
                "tier": "basic",
                "classification": "internal",
                "pipl_sensitive": False,
                "free_text": False,
            }
        ],
        "context": {"hour": 10, "volume": 1, "bulk": False, "today": "2026-11-25"},
    }

    answer = client.query_rule(question, "governance.access", "decision")

    with app.app_context():
        expected = policies.get_engine().decide(question).to_json()
    assert answer["result"]["fields"] == expected["fields"]

    engine = OpaEngine(served, token=_token(app))  # pushes the same policies and data
    assert engine.decide(question).to_json() == expected


def test_an_opa_server_that_refuses_the_bundle_stops_the_engine(
    app: Flask, catalog: Any, served: str, tmp_path: Any
) -> None:
    from policies.engine import PolicySource

    folder = tmp_path / "governance" / "access"
    folder.mkdir(parents=True)
    (folder / "access.rego").write_text(
        "package governance.access\n\nimport rego.v1\n\ndecision := {}\n"
    )
    with pytest.raises(Exception, match=r"forbidden|refused|Policies change"):
        OpaEngine(served, token=_token(app), source=PolicySource.load(tmp_path))


def test_healthz_names_the_bundle(app: Flask, client: Any) -> None:
    body = client.get("/healthz").get_json()
    with app.app_context():
        assert body["policy_bundle"] == policies.service().bundle_hash


@pytest.mark.parametrize(
    "body",
    [
        {"questions": []},
        {"questions": [{"subject": "sub_" + "x" * 22, "purpose": "marketing_push"}]},
        {"questions": [{"subject": "not-an-id", "purpose": "marketing_push", "fields": ["city"]}]},
        {"questions": [{"subject": "sub_" + "x" * 22, "purpose": "marketing_push",
                        "fields": ["city"], "extra": 1}]},
        {"questions": [{"subject": "sub_" + "x" * 22, "purpose": "marketing_push",
                        "fields": ["city"]}] * 1001},
        {"questions": [{"subject": "sub_" + "x" * 22, "purpose": "marketing_push",
                        "fields": ["city", "city"]}]},
    ],
    ids=["empty", "no-fields", "bad-subject", "unknown-key", "over-1000", "field-twice"],
)  # fmt: skip
def test_malformed_batches_are_refused_with_nothing_written(
    crm: Any, catalog: Any, db_snapshot: Any, body: dict[str, Any]
) -> None:
    before = db_snapshot()
    resp = crm.post(API, json=body)
    assert resp.status_code == 422, resp.get_json()
    assert resp.get_json()["type"] in ("/problems/validation-error", "/problems/unknown-field")
    assert db_snapshot() == before


def test_asking_without_policy_check_is_refused(
    alice: str, as_service: Any, db_snapshot: Any
) -> None:
    checker = as_service(["marketing_push"], ["consent:check"])
    before = db_snapshot()
    question = {"subject": alice, "purpose": "marketing_push", "fields": ["nickname"]}
    assert _ask(checker, question).status_code == 403
    assert db_snapshot() == before


@pytest.mark.parametrize("body", [[1, 2], {"input": [1]}, "not json"])
def test_the_data_api_refuses_a_body_that_is_not_an_input_object(
    as_service: Any, catalog: Any, db_snapshot: Any, body: Any
) -> None:
    client = as_service([], ["policy:check"])
    before = db_snapshot()
    if isinstance(body, str):
        resp = client.post(
            "/v1/data/governance/access/decision",
            data=body,
            headers={"Content-Type": "application/json"},
        )
    else:
        resp = client.post("/v1/data/governance/access/decision", json=body)
    assert resp.status_code == 400
    assert resp.get_json()["code"] == "invalid_parameter"
    assert db_snapshot() == before
