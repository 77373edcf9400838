"""Consented-cohort exports: only consenting subjects, only allowed fields, references first."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

import policies
from audit.models import AuditEntry
from consent import ledger
from governance.auth.actors import Actor
from governance.auth.permissions import Role
from governance.db import get_session
from governance.errors import ApiError
from governance.profiles import guarded
from governance.profiles.guarded import export_cohort
from governance.profiles.models import ExportSubject, ProfileExport
from governance.profiles.store import create_subject
from policies.engine import deny_all
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE, NOW

SERVICE = Actor(type="service", id="gk_campaigns", purposes=frozenset({"marketing_push"}))
FIELDS = ["city", "coupon_use", "mobile"]


def _change(session: Session, subject: str, kind: str, tier: str = "behaviour") -> None:
    extra: dict[str, Any] = {}
    if kind == "grant":
        extra = {"tier": tier, "notice_version": CURRENT_NOTICE, "evidence_sha256": EVIDENCE}
    ledger.record(
        session,
        ledger.Change(
            subject=subject,
            purposes=("marketing_push",),
            kind=kind,
            channel="portal",
            acted_by="subject",
            actor_id=subject,
            **extra,
        ),
        now=NOW - dt.timedelta(days=2),
    )


@pytest.fixture
def cohort(app: Flask, catalog: Any) -> Iterator[dict[str, str]]:
    """Six customers: four granted (one at basic), one withdrew, one never decided."""
    with app.app_context():
        session = get_session()
        made = {}
        for n, name in enumerate(["a", "b", "c", "d", "withdrew", "never"]):
            made[name] = create_subject(
                session,
                {"city": f"城市{n}", "coupon_use": n, "mobile": f"1002000{n:04d}"},
            )
        session.flush()
        for name in ("a", "b", "c", "withdrew"):
            _change(session, made[name], "grant")
        _change(session, made["d"], "grant", tier="basic")
        _change(session, made["withdrew"], "withdraw")
        session.commit()
        yield made


def _run(app: Flask, actor: Actor = SERVICE, **kwargs: Any) -> tuple[str, list[dict[str, Any]]]:
    with app.app_context():
        started = export_cohort(
            get_session(), actor, "marketing_push", FIELDS, now=NOW, page_size=2, **kwargs
        )
        return started.id, [json.loads(line) for line in started.lines]


def test_only_consenting_subjects_and_allowed_fields_are_exported(
    app: Flask, cohort: dict[str, str]
) -> None:
    export_id, lines = _run(app)
    by_subject = {line["subject"]: line["values"] for line in lines}
    # d granted the basic tier only: coupon_use (behaviour) is not covered; city, mobile are.
    assert set(by_subject) == {cohort[n] for n in ("a", "b", "c", "d")}
    assert by_subject[cohort["a"]] == {"city": "城市0", "coupon_use": 0, "mobile": "10020000000"}
    assert by_subject[cohort["d"]] == {"city": "城市3", "mobile": "10020000003"}
    assert [line["subject"] for line in lines] == sorted(by_subject)
    with app.app_context():
        session = get_session()
        refs = session.scalars(
            select(ExportSubject.subject_id).where(ExportSubject.export_id == export_id)
        )
        assert sorted(refs) == sorted(by_subject)
        export = session.get(ProfileExport, export_id)
        assert export is not None and export.status == "complete" and export.subjects == 4
        manifest = hashlib.sha256("".join(f"{s}\n" for s in sorted(by_subject)).encode())
        assert export.manifest_sha256 == manifest.hexdigest()
        entries = list(
            session.scalars(select(AuditEntry).where(AuditEntry.resource == f"export:{export_id}"))
        )
        assert [e.action for e in entries] == ["profile.export", "profile.export.done"]
        raw = " ".join(e.details for e in entries)
        assert "城市" not in raw and "1002000" not in raw


def test_a_withdrawal_during_an_export_takes_effect_for_the_pages_not_yet_read(
    app: Flask, cohort: dict[str, str]
) -> None:
    with app.app_context():
        session = get_session()
        started = export_cohort(session, SERVICE, "marketing_push", ["city"], now=NOW, page_size=1)
        first = json.loads(next(started.lines))
        assert first["subject"] == min(cohort[n] for n in ("a", "b", "c", "d"))
        later = max(cohort[n] for n in ("a", "b", "c", "d"))
        _change(session, later, "withdraw")
        session.commit()
        rest = [json.loads(line)["subject"] for line in started.lines]
    assert later not in rest and len(rest) == 2


def test_references_are_committed_before_the_values_of_their_page_leave(
    app: Flask, cohort: dict[str, str], database_url: str
) -> None:
    from sqlalchemy import create_engine

    with app.app_context():
        started = export_cohort(
            get_session(), SERVICE, "marketing_push", ["city"], now=NOW, page_size=1
        )
        first = json.loads(next(started.lines))["subject"]
        other = create_engine(database_url)
        with other.connect() as conn:
            seen = list(conn.scalars(select(ExportSubject.subject_id)))
        other.dispose()
        assert seen == [first]
        list(started.lines)


def test_an_export_above_the_bulk_volume_reveals_nothing(
    app: Flask, cohort: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(guarded, "daily_volume", lambda *a, **k: 20_000_000)
    export_id, lines = _run(app)
    assert lines == []
    with app.app_context():
        export = get_session().get(ProfileExport, export_id)
        assert export is not None and export.status == "complete" and export.subjects == 0


def test_an_operator_needs_a_fresh_second_factor_for_an_export(
    app: Flask, cohort: dict[str, str]
) -> None:
    def marketer(mfa_at: dt.datetime) -> Actor:
        return Actor(type="operator", id="9", roles=frozenset({Role.MARKETING}), mfa_at=mfa_at)

    assert _run(app, marketer(NOW - dt.timedelta(hours=1)))[1] == []
    lines = _run(app, marketer(NOW - dt.timedelta(minutes=1)))[1]
    # Marketing may not see core fields (mobile); city and coupon_use it may.
    assert lines and all(set(line["values"]) <= {"city", "coupon_use"} for line in lines)


def test_an_engine_failure_stops_the_export_and_is_audited(
    app: Flask, cohort: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        service = policies.service()
        monkeypatch.setattr(
            service, "decide", lambda policy_input: deny_all(FIELDS, service.bundle_hash)
        )
        session = get_session()
        started = export_cohort(session, SERVICE, "marketing_push", FIELDS, now=NOW)
        with pytest.raises(ApiError):
            list(started.lines)
        export = session.get(ProfileExport, started.id)
        assert export is not None and export.status == "failed" and export.subjects == 0
        done = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "profile.export.done")
        ).one()
        assert done.decision == "error"


def test_filters_limit_and_tiers(app: Flask, cohort: dict[str, str]) -> None:
    _id, limited = _run(app, limit=2)
    assert len(limited) == 2
    _id, basic_only = _run(app, where=ledger.CohortFilter(tiers=("basic",)))
    assert [line["subject"] for line in basic_only] == [cohort["d"]]


def test_unknown_purpose_or_field_is_refused_before_anything_is_written(
    app: Flask, cohort: dict[str, str]
) -> None:
    with app.app_context():
        session = get_session()
        for purpose, fields in (("no_such", ["city"]), ("marketing_push", ["no_such"])):
            with pytest.raises(ApiError) as raised:
                export_cohort(session, SERVICE, purpose, fields, now=NOW)
            assert raised.value.problem.status == 422
        session.rollback()
        assert session.scalars(select(ProfileExport)).all() == []


def test_another_brands_customers_are_not_exported(app: Flask, cohort: dict[str, str]) -> None:
    from governance.brands import create_brand

    with app.app_context():
        session = get_session()
        create_brand(session, "brand-b", "Brand B (fictional)")
        session.commit()
    other = Actor(
        type="service", id="gk_b", purposes=frozenset({"marketing_push"}), brand="brand-b"
    )
    assert _run(app, other)[1] == []
