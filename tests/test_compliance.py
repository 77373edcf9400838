"""The compliance self-check: each check turns from ok when its condition is built."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from consent.catalog.models import CatalogField
from governance.compliance import CHECK_KEYS, SelfCheck, SelfCheckConfig, run_selfcheck
from governance.db import get_session, utcnow
from tests.compliance import builders as b
from tests.web.helpers import BEFORE_CHANGE, CURRENT_NOTICE, OLD_NOTICE, decide, new_customer


@pytest.fixture
def check(app: Flask, catalog: Any) -> Callable[..., SelfCheck]:
    """Run the self-check with the app's configuration (or ``config``) in a fresh context."""

    def run(config: SelfCheckConfig | None = None) -> SelfCheck:
        with app.app_context():
            return run_selfcheck(get_session(), config or SelfCheckConfig.from_app(app), utcnow())

    return run


@pytest.fixture
def arrange(app: Flask) -> Callable[[Callable[[Session], Any]], Any]:
    """Run ``work(session)`` in a short app context of its own."""

    def run(work: Callable[[Session], Any]) -> Any:
        with app.app_context():
            return work(get_session())

    return run


@pytest.fixture
def verified(arrange: Any) -> None:
    """A passed verification just now (so that a clean platform is all ok)."""
    arrange(lambda s: b.verification(s, ok=True))


def test_a_clean_platform_is_ok_on_every_check(check: Any, verified: None) -> None:
    result = check()
    assert [i.key for i in result.items] == list(CHECK_KEYS)
    assert b.statuses(result) == {key: "ok" for key in CHECK_KEYS}
    assert result.status == "ok"
    assert all(i.count == 0 for i in result.items)
    assert result.until - result.since == dt.timedelta(days=30)


def test_denials_are_counted_by_reason_in_the_window(check: Any, arrange: Any) -> None:
    assert check().item("denials").status == "ok"
    arrange(lambda s: b.denial(s, "consent_invalid"))
    arrange(lambda s: b.denial(s, "consent_invalid"))
    arrange(lambda s: b.denial(s, "purpose_not_granted"))
    item = check().item("denials")
    assert (item.status, item.count) == ("attention", 3)
    assert item.rows == [
        {"reason": "consent_invalid", "count": 2},
        {"reason": "purpose_not_granted", "count": 1},
    ]


def test_a_grant_before_a_material_notice_change_needs_reconsent(check: Any, arrange: Any) -> None:
    def grants(s: Session) -> None:
        stale, fresh = new_customer(s), new_customer(s, mobile="13800000018")
        decide(s, stale, b.CHANGED_PURPOSE, notice=OLD_NOTICE, now=BEFORE_CHANGE)
        decide(s, fresh, b.CHANGED_PURPOSE, notice=CURRENT_NOTICE)
        # A purpose the material change does not name: an old grant stays valid.
        decide(s, stale, "marketing_push", notice=OLD_NOTICE, now=BEFORE_CHANGE)

    arrange(grants)
    item = check().item("reconsent")
    assert (item.status, item.count) == ("attention", 1)
    assert item.rows == [{"purpose": b.CHANGED_PURPOSE, "count": 1, "changed": dt.date(2026, 9, 1)}]


def test_an_expired_agreement_fails_and_one_ending_soon_needs_attention(
    check: Any, arrange: Any
) -> None:
    today = b.today()
    partner = arrange(b.partner)
    arrange(
        lambda s: b.agreement(
            s,
            partner,
            valid_from=today - dt.timedelta(days=90),
            valid_until=today + dt.timedelta(days=90),
        )
    )
    assert check().item("agreements").status == "ok"
    soon = arrange(
        lambda s: b.agreement(
            s,
            partner,
            valid_from=today - dt.timedelta(days=90),
            valid_until=today + dt.timedelta(days=10),
        )
    )
    item = check().item("agreements")
    assert (item.status, item.count) == ("attention", 1)
    assert item.rows[0]["agreement"] == soon and item.rows[0]["state"] == "expiring"
    expired = arrange(
        lambda s: b.agreement(
            s,
            partner,
            valid_from=today - dt.timedelta(days=90),
            valid_until=today - dt.timedelta(days=1),
        )
    )
    # Revoked and draft agreements past their dates are not a problem.
    for status in ("revoked", "draft"):
        arrange(
            lambda s, st=status: b.agreement(
                s,
                partner,
                valid_from=today - dt.timedelta(days=90),
                valid_until=today - dt.timedelta(days=1),
                status=st,
            )
        )
    item = check().item("agreements")
    assert (item.status, item.count) == ("failing", 2)
    assert [(r["agreement"], r["state"]) for r in item.rows] == [
        (expired, "expired"),
        (soon, "expiring"),
    ]
    assert item.rows[0]["partner"] == "Example Bank (fictional)"


def test_a_field_without_classification_or_retention_fails(check: Any, arrange: Any) -> None:
    def break_catalog(s: Session) -> None:
        field = s.get(CatalogField, "city")
        assert field is not None
        field.retention_days = 0
        other = s.get(CatalogField, "nickname")
        assert other is not None
        other.classification = ""
        s.commit()

    assert check().item("catalog").status == "ok"
    arrange(break_catalog)
    item = check().item("catalog")
    assert (item.status, item.count) == ("failing", 2)
    assert item.rows == [
        {"field": "city", "missing": ["retention"]},
        {"field": "nickname", "missing": ["classification"]},
    ]


def test_values_past_their_retention_are_counted_per_field(check: Any, arrange: Any) -> None:
    first = arrange(new_customer)
    second = arrange(lambda s: new_customer(s, mobile="13800000019"))
    assert check().item("retention").status == "ok"
    # browse_history is kept 180 days, mobile 1095.
    arrange(lambda s: b.age_value(s, first, "browse_history", 200))
    arrange(lambda s: b.age_value(s, second, "browse_history", 181))
    arrange(lambda s: b.age_value(s, first, "mobile", 200))
    arrange(lambda s: b.age_value(s, second, "coupon_use", 100))
    item = check().item("retention")
    assert (item.status, item.count) == ("failing", 2)
    assert [(r["field"], r["count"], r["retention_days"]) for r in item.rows] == [
        ("browse_history", 2, 180)
    ]
    assert set(item.rows[0]) == {"field", "retention_days", "count", "oldest"}


def test_overdue_requests_fail_and_closed_ones_do_not(check: Any, arrange: Any) -> None:
    arrange(lambda s: b.subject_request(s, due_in_days=5))
    arrange(lambda s: b.subject_request(s, due_in_days=-3, status="completed"))
    assert check().item("requests").status == "ok"
    late = arrange(lambda s: b.subject_request(s, due_in_days=-3.5, kind="erasure"))
    later = arrange(lambda s: b.subject_request(s, due_in_days=-1.5, status="in_progress"))
    item = check().item("requests")
    assert (item.status, item.count) == ("failing", 2)
    assert [r["request"] for r in item.rows] == [late, later]
    assert [r["days_overdue"] for r in item.rows] == [3, 1]
    assert "subject" not in item.rows[0]


def test_dead_letters_need_attention(check: Any, arrange: Any) -> None:
    sub = arrange(lambda s: b.subscription(s, ["marketing_push"]))
    customer = arrange(new_customer)
    arrange(lambda s: decide(s, customer, "marketing_push"))
    assert check().item("dead_letters").status == "ok"  # pending is not dead
    assert arrange(lambda s: b.kill_messages(s, sub)) == 1
    item = check().item("dead_letters")
    assert (item.status, item.count) == ("attention", 1)
    assert item.rows[0]["subscription"] == sub and item.rows[0]["count"] == 1


def test_a_key_file_older_than_the_maximum_needs_attention(check: Any, tmp_path: Path) -> None:
    fresh, old = tmp_path / "fresh.key", tmp_path / "old.key"
    fresh.write_text("x")
    old.write_text("x")
    long_ago = (utcnow() - dt.timedelta(days=400)).timestamp()
    os.utime(old, (long_ago, long_ago))
    config = SelfCheckConfig(key_files={"kek": fresh}, keys_elsewhere=("session",))
    assert check(config).item("keys").status == "ok"
    config = SelfCheckConfig(key_files={"kek": fresh, "audit_signing": old})
    item = check(config).item("keys")
    assert (item.status, item.count) == ("attention", 1)
    assert [(r["key"], r["state"], r["age_days"]) for r in item.rows] == [
        ("kek", "ok", 0),
        ("audit_signing", "old", 400),
    ]
    assert (
        check(SelfCheckConfig(key_files={"kek": fresh}, key_max_age_days=1000)).item("keys").status
        == "ok"
    )


def test_the_app_configuration_lists_its_key_files(app: Flask) -> None:
    config = SelfCheckConfig.from_app(app)
    assert set(config.key_files) == {
        "kek",
        "audit_signing",
        "receipt_signing",
        "manifest_signing",
        "portal_link",
        "session",
    }
    app.config["KEK_PROVIDER"] = "kms"
    app.config["COMPLIANCE_KEY_MAX_AGE_DAYS"] = 90
    config = SelfCheckConfig.from_app(app)
    assert "kek" not in config.key_files and config.keys_elsewhere == ("kek",)
    assert config.key_max_age_days == 90


def test_verification_none_failed_stale_and_passed(check: Any, arrange: Any) -> None:
    item = check().item("verification")
    assert (item.status, item.rows) == ("attention", [])
    arrange(lambda s: b.verification(s, ok=True, days_ago=45))
    assert check().item("verification").status == "attention"
    arrange(lambda s: b.verification(s, ok=False))
    item = check().item("verification")
    assert (item.status, item.count) == ("failing", 1)
    assert item.rows[0]["failure_check"] == "chain"
    arrange(lambda s: b.verification(s, ok=True))
    assert check().item("verification").status == "ok"


def test_the_summary_holds_statuses_and_counts_only(check: Any, arrange: Any) -> None:
    arrange(lambda s: b.subject_request(s, due_in_days=-2))
    result = check()
    summary = result.summary()
    assert summary["status"] == "failing"
    assert summary["items"]["requests"] == {"status": "failing", "count": 1}
    assert set(summary["items"]) == set(CHECK_KEYS)
    assert "dsr_" not in str(summary)
    assert result.to_json()["items"][5]["rows"][0]["request"].startswith("dsr_")


def test_detail_rows_are_capped_but_the_count_is_whole(check: Any, arrange: Any) -> None:
    for _ in range(3):
        arrange(lambda s: b.subject_request(s, due_in_days=-1))
    item = check(SelfCheckConfig(detail_limit=2)).item("requests")
    assert (item.count, len(item.rows), item.more) == (3, 2, 1)
