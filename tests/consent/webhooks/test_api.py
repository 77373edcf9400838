"""Webhooks API: subscriptions (secret shown once, stored wrapped) and dead letters."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from audit.models import ENTRIES
from consent.webhooks import services
from consent.webhooks.models import WebhookSubscription
from governance.db import get_engine, get_session
from governance.errors import ApiError
from governance.profiles.crypto import profile_crypto

from .conftest import subject_id

BASE = "/api/v1/consent/webhooks"
GOOD = {
    "name": "CRM sync (fictional)",
    "url": "https://crm.example.com/hooks/consent",
    "purposes": ["marketing_push", "analytics"],
}


def _actions(app: Flask) -> list[str]:
    with get_engine(app).connect() as conn:
        return list(conn.scalars(select(ENTRIES.c.action).order_by(ENTRIES.c.seq)))


def test_created_subscription_shows_its_secret_once_and_stores_it_wrapped(
    app: Flask, catalog: Any, as_dpo: Any, stored_bytes: Any
) -> None:
    resp = as_dpo.post(f"{BASE}/subscriptions", json=GOOD)

    assert resp.status_code == 201
    body = resp.get_json()
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(secret) >= 40
    assert body["id"].startswith("whs_") and body["active"] is True
    assert body["purposes"] == ["analytics", "marketing_push"]
    assert body["url"] == GOOD["url"] and body["created_by"] is not None

    listed = as_dpo.get(f"{BASE}/subscriptions").get_json()
    assert [s["id"] for s in listed] == [body["id"]]
    assert "secret" not in listed[0] and "secret_wrapped" not in listed[0]

    with app.app_context():
        row = get_session().get(WebhookSubscription, body["id"])
        assert row is not None
        opened = services.unwrap_secret(profile_crypto().keyring, row.id, row.secret_wrapped)
    assert opened == secret.encode()
    assert secret.encode() not in stored_bytes()
    assert "consent.webhook.subscribe" in _actions(app)


def test_a_wrapped_secret_moved_to_another_subscription_does_not_open(
    app: Flask, subscribe: Any
) -> None:
    from cryptography.exceptions import InvalidTag

    first = subscribe("https://a.example.com/hooks")
    second = subscribe("https://b.example.com/hooks")
    with app.app_context():
        wrapped = get_session().get(WebhookSubscription, first)
        assert wrapped is not None
        with pytest.raises(InvalidTag):
            services.unwrap_secret(profile_crypto().keyring, second, wrapped.secret_wrapped)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purposes": ["world_domination"]}, "purposes"),
        ({"purposes": []}, "purposes"),
        ({"url": "ftp://files.example.com/hooks"}, "url"),
        ({"url": "crm.example.com/hooks"}, "url"),
        ({"url": "https://user:pass@crm.example.com/hooks"}, "url"),
        ({"url": "https://crm.example.com/hooks#top"}, "url"),
        ({"url": "https://crm.example.com/ho oks"}, "url"),
        ({"url": "https://crm.example.com:99999/hooks"}, "url"),
        ({"url": "https://" + "a" * 2050 + ".example.com/"}, "url"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 129}, "name"),
        ({"secret": "whsec_chosen-by-the-caller"}, "secret"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(
    catalog: Any, as_dpo: Any, db_snapshot: Any, change: dict[str, Any], field: str
) -> None:
    before = db_snapshot()
    resp = as_dpo.post(f"{BASE}/subscriptions", json={**GOOD, **change})
    assert resp.status_code == 422, resp.get_json()
    assert resp.mimetype == "application/problem+json"
    assert field in resp.get_json()["errors"]
    assert db_snapshot() == before


def test_missing_fields_are_named(catalog: Any, as_dpo: Any, db_snapshot: Any) -> None:
    before = db_snapshot()
    resp = as_dpo.post(f"{BASE}/subscriptions", json={"name": "x"})
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"url", "purposes"}
    assert db_snapshot() == before


def test_production_refuses_plain_http_except_to_loopback(
    app: Flask, catalog: Any, as_admin: Any, db_snapshot: Any
) -> None:
    app.config["ENV"] = "production"
    before = db_snapshot()
    resp = as_admin.post(f"{BASE}/subscriptions", json={**GOOD, "url": "http://crm.example.com/"})
    assert resp.status_code == 422
    assert "https" in resp.get_json()["errors"]["url"][0]
    assert db_snapshot() == before
    for url in ("http://127.0.0.1:8080/hooks", "http://[::1]/hooks", "http://localhost/h"):
        assert as_admin.post(f"{BASE}/subscriptions", json={**GOOD, "url": url}).status_code == 201


@pytest.mark.parametrize(
    ("url", "production", "ok"),
    [
        ("https://crm.example.com/hooks", True, True),
        ("http://crm.example.com/hooks", False, True),
        ("http://crm.example.com/hooks", True, False),
        ("http://127.0.0.2/hooks", True, True),
        ("http://10.0.0.1/hooks", True, False),
        ("http://localhost.example.com/hooks", True, False),
    ],
)
def test_check_url(url: str, production: bool, ok: bool) -> None:
    if ok:
        assert services.check_url(url, production=production) == url
    else:
        with pytest.raises(ApiError):
            services.check_url(url, production=production)


def test_only_webhook_managers_may_manage(
    catalog: Any, as_operator: Any, as_service: Any, as_admin: Any
) -> None:
    marketing = as_operator("marketing")
    assert marketing.get(f"{BASE}/subscriptions").status_code == 403
    assert marketing.post(f"{BASE}/subscriptions", json=GOOD).status_code == 403
    assert marketing.get(f"{BASE}/dead-letters").status_code == 403
    service = as_service(["marketing_push"], ["consent:check"])
    assert service.get(f"{BASE}/subscriptions").status_code == 403
    assert as_admin.post(f"{BASE}/subscriptions", json=GOOD).status_code == 201


def test_deactivation_stops_queueing_and_discards_what_was_waiting(
    app: Flask, catalog: Any, as_dpo: Any, add_event: Any, messages: Any
) -> None:
    sub = as_dpo.post(f"{BASE}/subscriptions", json=GOOD).get_json()["id"]
    add_event(subject_id(1))

    resp = as_dpo.delete(f"{BASE}/subscriptions/{sub}")

    assert resp.status_code == 200
    assert resp.get_json()["active"] is False and resp.get_json()["deactivated_at"]
    add_event(subject_id(2))
    assert [m["status"] for m in messages()] == ["discarded"]
    assert "consent.webhook.unsubscribe" in _actions(app)
    again = as_dpo.delete(f"{BASE}/subscriptions/{sub}")
    assert again.status_code == 200
    assert _actions(app).count("consent.webhook.unsubscribe") == 1


def test_unknown_subscription_is_404(catalog: Any, as_dpo: Any) -> None:
    resp = as_dpo.delete(f"{BASE}/subscriptions/whs_0000000000000000")
    assert resp.status_code == 404
    assert resp.get_json()["type"] == "/problems/not-found"


def test_only_dead_letters_can_be_retried_or_discarded(
    catalog: Any, as_dpo: Any, subscribe: Any, add_event: Any, messages: Any, db_snapshot: Any
) -> None:
    subscribe("https://crm.example.com/hooks")
    add_event(subject_id(1))
    [pending] = messages()
    before = db_snapshot()
    for action in ("retry", "discard"):
        resp = as_dpo.post(f"{BASE}/dead-letters/{pending['id']}/{action}")
        assert resp.status_code == 409
        assert resp.get_json()["type"] == "/problems/conflict"
        assert as_dpo.post(f"{BASE}/dead-letters/999999/{action}").status_code == 404
    assert db_snapshot() == before


def test_dead_letters_page_by_id_and_filter_by_subscription(
    app: Flask, catalog: Any, as_dpo: Any, subscribe: Any, add_event: Any, messages: Any
) -> None:
    one = subscribe("https://a.example.com/hooks")
    two = subscribe("https://b.example.com/hooks")
    for n in range(3):
        add_event(subject_id(n))
    with get_engine(app).begin() as conn:  # as if every attempt had failed
        from consent.webhooks.models import OUTBOX

        conn.execute(OUTBOX.update().values(status="dead", attempts=3, last_error="timeout"))

    first = as_dpo.get(f"{BASE}/dead-letters?limit=4").get_json()
    assert len(first["items"]) == 4 and first["next"] == first["items"][-1]["id"]
    rest = as_dpo.get(f"{BASE}/dead-letters?limit=4&after={first['next']}").get_json()
    assert len(rest["items"]) == 2 and rest["next"] is None
    ids = [i["id"] for i in first["items"] + rest["items"]]
    assert ids == sorted(ids) == [m["id"] for m in messages()]
    only_two = as_dpo.get(f"{BASE}/dead-letters?subscription={two}").get_json()["items"]
    assert {i["subscription_id"] for i in only_two} == {two} and len(only_two) == 3
    assert one not in str(only_two)
    assert as_dpo.get(f"{BASE}/dead-letters?limit=0").status_code == 422
    assert as_dpo.get(f"{BASE}/dead-letters?colour=red").status_code == 422


def test_retry_and_discard_are_audited(
    app: Flask, catalog: Any, as_dpo: Any, subscribe: Any, add_event: Any, messages: Any
) -> None:
    subscribe("https://crm.example.com/hooks")
    add_event(subject_id(1))
    add_event(subject_id(2))
    with get_engine(app).begin() as conn:
        from consent.webhooks.models import OUTBOX

        conn.execute(OUTBOX.update().values(status="dead", attempts=20))
    first, second = messages()
    assert as_dpo.post(f"{BASE}/dead-letters/{first['id']}/retry").status_code == 200
    assert as_dpo.post(f"{BASE}/dead-letters/{second['id']}/discard").status_code == 200
    retried, discarded = messages()
    assert (retried["status"], retried["attempts"]) == ("pending", 0)
    assert discarded["status"] == "discarded"
    actions = _actions(app)
    assert "consent.webhook.retry" in actions and "consent.webhook.discard" in actions
