"""Brand scope: whoever acts for one brand never reaches another brand's customers.

A subject of another brand is answered exactly as a subject that does not exist (404, or
``unknown_subject`` in a check), and nothing is written.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from consent.webhooks.models import OUTBOX
from governance.brands import create_brand
from governance.db import get_session
from tests.consent.conftest import BEHALF_EVIDENCE, EVIDENCE, subject_id

API = "/api/v1/consent"
LUMEN = "lumen"  # a second, fictional brand of the group


def _grant(channel: str = "mini_program", **extra: Any) -> dict[str, Any]:
    return {
        "kind": "grant",
        "purposes": ["marketing_push"],
        "tier": "behaviour",
        "notice_version": "2026-09",
        "channel": channel,
        "evidence_sha256": EVIDENCE,
        **extra,
    }


@pytest.fixture
def lumen(app: Flask, catalog: Any) -> str:
    # Not ``ledger_db``: its app context would be shared by every request of the test, and
    # Flask-WTF caches a CSRF token in ``g``, mixing the operators' sessions up.
    with app.app_context():
        db = get_session()
        create_brand(db, LUMEN, "Lumen Tea House (fictional)")
        db.commit()
    return LUMEN


@pytest.fixture
def alice(make_subject: Any, lumen: str) -> str:
    """A customer of the default brand."""
    return str(make_subject(1))


@pytest.fixture
def carol(make_subject: Any, lumen: str) -> str:
    """A customer of Lumen."""
    return str(make_subject(3, brand=lumen))


def _problem(resp: Any) -> tuple[int, str, str]:
    body = resp.get_json()
    return resp.status_code, body["type"], body["detail"]


def test_a_service_cannot_decide_for_another_brands_customer(
    alice: str, carol: str, as_service: Any, db_snapshot: Any
) -> None:
    default_app = as_service(["marketing_push"], ["consent:write"])
    before = db_snapshot()

    other = default_app.post(f"{API}/subjects/{carol}/decisions", json=_grant())
    missing = default_app.post(f"{API}/subjects/{subject_id(99)}/decisions", json=_grant())

    assert _problem(other) == (404, "/problems/not-found", "No such subject.")
    assert _problem(other) == _problem(missing)  # another brand's customer is not revealed
    assert db_snapshot() == before
    own = default_app.post(f"{API}/subjects/{alice}/decisions", json=_grant())
    assert own.status_code == 201, own.get_json()


def test_checks_answer_unknown_subject_for_another_brands_customer(
    alice: str, carol: str, as_service: Any
) -> None:
    lumen_app = as_service(["marketing_push"], ["consent:write", "consent:check"], brand=LUMEN)
    default_app = as_service(["marketing_push"], ["consent:write", "consent:check"])
    assert lumen_app.post(f"{API}/subjects/{carol}/decisions", json=_grant()).status_code == 201
    assert default_app.post(f"{API}/subjects/{alice}/decisions", json=_grant()).status_code == 201

    def single(client: Any, subject: str) -> tuple[bool, str]:
        body = client.post(
            f"{API}/check", json={"subject": subject, "purpose": "marketing_push"}
        ).get_json()
        return body["valid"], body["reason"]

    assert single(lumen_app, carol) == (True, "valid")
    assert single(default_app, carol) == (False, "unknown_subject")
    assert single(default_app, alice) == (True, "valid")
    assert single(lumen_app, alice) == (False, "unknown_subject")

    batch = default_app.post(
        f"{API}/check/batch",
        json={"subjects": [carol, alice, subject_id(99)], "purpose": "marketing_push"},
    )
    assert [(r["subject"], r["reason"]) for r in batch.get_json()["results"]] == [
        (carol, "unknown_subject"),
        (alice, "valid"),
        (subject_id(99), "unknown_subject"),
    ]


def test_a_brand_operator_reaches_only_their_brands_customers(
    alice: str, carol: str, as_operator: Any, as_service: Any, db_snapshot: Any
) -> None:
    lumen_app = as_service(["marketing_push"], ["consent:write"], brand=LUMEN)
    granted = lumen_app.post(f"{API}/subjects/{carol}/decisions", json=_grant())
    receipt = granted.get_json()["events"][0]["receipt_id"]
    group_desk = as_operator("customer_service")  # no brand: the whole group
    lumen_desk = as_operator("customer_service", brand=LUMEN)
    default_only = as_operator("dpo", brand="default")
    behalf = {
        "kind": "withdraw",
        "purposes": ["marketing_push"],
        "channel": "store",
        "behalf_evidence_sha256": BEHALF_EVIDENCE,
    }

    before = db_snapshot()
    refused = lumen_desk.post(f"{API}/subjects/{alice}/decisions", json=behalf)
    assert _problem(refused) == (404, "/problems/not-found", "No such subject.")
    assert db_snapshot() == before

    for path in (f"subjects/{carol}/state", f"subjects/{carol}/history", f"receipts/{receipt}"):
        assert default_only.get(f"{API}/{path}").status_code == 404, path
        assert lumen_desk.get(f"{API}/{path}").status_code == 200, path
        assert group_desk.get(f"{API}/{path}").status_code == 200, path  # group-wide
    assert lumen_desk.get(f"{API}/subjects/{alice}/state").status_code == 404

    withdrawn = lumen_desk.post(f"{API}/subjects/{carol}/decisions", json=behalf)
    assert withdrawn.status_code == 201, withdrawn.get_json()


def test_state_for_a_service_is_limited_to_its_brand(
    alice: str, carol: str, as_service: Any
) -> None:
    recommender = as_service(["personalised_recommendation"], ["consent:check"])
    assert recommender.get(f"{API}/subjects/{alice}/state").status_code == 200
    hidden = recommender.get(f"{API}/subjects/{carol}/state")
    assert _problem(hidden) == (404, "/problems/not-found", "No such subject.")


def test_webhooks_hear_only_their_brands_customers(
    app: Flask, alice: str, carol: str, as_operator: Any, as_service: Any
) -> None:
    lumen_dpo = as_operator("dpo", brand=LUMEN)
    group_dpo = as_operator("dpo")
    body = {"name": "crm", "url": "http://127.0.0.1:9/hook", "purposes": ["marketing_push"]}
    lumen_hook = lumen_dpo.post(f"{API}/webhooks/subscriptions", json=body).get_json()
    default_hook = group_dpo.post(f"{API}/webhooks/subscriptions", json=body).get_json()
    assert (lumen_hook["brand"], default_hook["brand"]) == (LUMEN, "default")

    as_service(["marketing_push"], ["consent:write"], brand=LUMEN).post(
        f"{API}/subjects/{carol}/decisions", json=_grant()
    )
    as_service(["marketing_push"], ["consent:write"]).post(
        f"{API}/subjects/{alice}/decisions", json=_grant()
    )

    with app.app_context():
        rows = get_session().execute(
            select(OUTBOX.c.subscription_id, OUTBOX.c.subject_id, func.count())
            .group_by(OUTBOX.c.subscription_id, OUTBOX.c.subject_id)
            .order_by(OUTBOX.c.subject_id)
        )
        queued = {tuple(row) for row in rows}
    assert queued == {(default_hook["id"], alice, 1), (lumen_hook["id"], carol, 1)}

    listed = lumen_dpo.get(f"{API}/webhooks/subscriptions").get_json()
    assert [s["id"] for s in listed] == [lumen_hook["id"]]
    gone = lumen_dpo.delete(f"{API}/webhooks/subscriptions/{default_hook['id']}")
    assert gone.status_code == 404
    other = lumen_dpo.post(f"{API}/webhooks/subscriptions", json={**body, "brand": "default"})
    assert _problem(other)[0] == 403


def test_api_keys_belong_to_a_brand(
    alice: str, carol: str, as_operator: Any, db_snapshot: Any
) -> None:
    group_admin = as_operator("admin")
    lumen_admin = as_operator("admin", brand=LUMEN)
    body = {"name": "pos", "purposes": ["marketing_push"], "permissions": ["consent:check"]}

    before = db_snapshot()
    unknown = group_admin.post("/api/v1/api-keys", json={**body, "brand": "nope"})
    assert unknown.status_code == 422 and "brand" in unknown.get_json()["errors"]
    crossing = lumen_admin.post("/api/v1/api-keys", json={**body, "brand": "default"})
    assert crossing.status_code == 403
    assert db_snapshot() == before

    own = lumen_admin.post("/api/v1/api-keys", json=body).get_json()
    assert own["brand"] == LUMEN
    group_made = group_admin.post("/api/v1/api-keys", json={**body, "brand": LUMEN}).get_json()
    assert group_made["brand"] == LUMEN
    default_key = group_admin.post("/api/v1/api-keys", json=body).get_json()
    assert default_key["brand"] == "default"

    listed = {k["id"] for k in lumen_admin.get("/api/v1/api-keys").get_json()}
    assert listed == {own["id"], group_made["id"]}
    assert lumen_admin.delete(f"/api/v1/api-keys/{default_key['id']}").status_code == 404

    service = {"Authorization": f"Bearer {own['token']}"}
    client = lumen_admin.client.application.test_client()
    who = client.get("/api/v1/whoami", headers=service).get_json()
    assert who["brand"] == LUMEN


def test_portal_links_only_for_the_brands_customers(
    alice: str, carol: str, as_service: Any
) -> None:
    lumen_app = as_service([], ["portal-links:issue"], brand=LUMEN)
    assert lumen_app.post("/api/v1/portal-links", json={"subject_id": carol}).status_code == 201
    hidden = lumen_app.post("/api/v1/portal-links", json={"subject_id": alice})
    assert _problem(hidden) == (404, "/problems/not-found", "No such subject.")


def test_brand_commands(runner: Any, ledger_db: Any) -> None:
    added = runner.invoke(args=["brand", "add", "north-star", "--name", "North Star (fictional)"])
    assert added.exit_code == 0, added.output
    again = runner.invoke(args=["brand", "add", "north-star", "--name", "Again"])
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(args=["brand", "add", "North Star", "--name", "x"])
    assert bad.exit_code != 0 and "not well formed" in bad.output
    listed = runner.invoke(args=["brand", "list"])
    assert listed.output.splitlines() == [
        "default\tDefault brand",
        "north-star\tNorth Star (fictional)",
    ]
