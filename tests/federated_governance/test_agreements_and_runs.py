"""Partners, agreements, refused runs, consent-gated cohorts and the run registry."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from sqlalchemy import select

from audit.models import AuditEntry
from consent import ledger
from federated.governance import services
from federated.governance.models import Agreement, FederatedRun
from federated.manifest import blind_id, load_manifest
from governance.auth.actors import Actor
from governance.db import get_session
from governance.errors import ApiError
from governance.profiles.store import create_subject
from tests.consent.conftest import EVIDENCE

PURPOSE = "joint_modelling_partner_bank"
FIELDS = ["order_total_12m", "coupon_use", "store_visits"]
TODAY = dt.datetime.now(dt.UTC).date()


def _node_key() -> tuple[str, str]:
    """A fictional SuperNode key pair: (public PEM, its SHA-256 as the platform keeps it)."""
    import hashlib

    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, hashlib.sha256(der).hexdigest()


@pytest.fixture
def partner(app: Flask, catalog: Any, as_dpo: Any) -> tuple[str, str]:
    """A registered partner bank: (partner id, its node key's SHA-256)."""
    pem, digest = _node_key()
    resp = as_dpo.post(
        "/api/v1/federated/partners",
        json={
            "name": "Example Bank (fictional)",
            "contact": "fl@bank.example.com",
            "supernode_public_key": pem,
        },
    )
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["supernode_key_sha256"] == digest
    return resp.get_json()["id"], digest


def _draft(as_dpo: Any, partner_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "partner": partner_id,
        "purpose": PURPOSE,
        "fields": FIELDS,
        "label_field": "order_total_12m",
        "valid_from": (TODAY - dt.timedelta(days=30)).isoformat(),
        "valid_until": (TODAY + dt.timedelta(days=30)).isoformat(),
    } | overrides
    resp = as_dpo.post("/api/v1/federated/agreements", json=body)
    assert resp.status_code == 201, resp.get_json()
    draft: dict[str, Any] = resp.get_json()
    return draft


@pytest.fixture
def agreement(as_dpo: Any, partner: tuple[str, str]) -> str:
    """An approved agreement with the partner bank."""
    draft = _draft(as_dpo, partner[0])
    assert draft["status"] == "draft" and draft["categories"] == ["behaviour", "transaction"]
    approved = as_dpo.post(f"/api/v1/federated/agreements/{draft['id']}/approve")
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    agreement_id: str = draft["id"]
    return agreement_id


def _refused(app: Flask, agreement_id: str, keys: list[str], **kw: Any) -> list[str]:
    with app.app_context():
        session = get_session()
        with pytest.raises(ApiError) as raised:
            services.check_runnable(session, agreement_id, partner_keys=keys, **kw)
        assert raised.value.problem.status == 409
        reasons: list[str] = raised.value.members["reasons"]
        entry = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "federated.run.refused")
            .order_by(AuditEntry.seq.desc())
        ).first()
        assert entry is not None and entry.decision == "deny"
        assert json.loads(entry.reasons) == reasons
        return reasons


def test_a_run_needs_an_approved_agreement(
    app: Flask, as_dpo: Any, partner: tuple[str, str]
) -> None:
    draft = _draft(as_dpo, partner[0])
    assert _refused(app, draft["id"], [partner[1]], secagg=True, dp=True) == [
        "agreement_not_approved"
    ]
    with app.app_context():
        refused = get_session().scalars(select(FederatedRun)).one()
        assert refused.status == "refused" and refused.reasons == ["agreement_not_approved"]
    assert _refused(app, "agr_noSuchAgreement00000", [partner[1]], secagg=True, dp=True) == [
        "agreement_not_found"
    ]


def test_a_run_under_an_expired_agreement_is_refused(
    app: Flask, as_dpo: Any, partner: tuple[str, str]
) -> None:
    draft = _draft(
        as_dpo,
        partner[0],
        valid_from=(TODAY - dt.timedelta(days=60)).isoformat(),
        valid_until=(TODAY - dt.timedelta(days=2)).isoformat(),
    )
    assert as_dpo.post(f"/api/v1/federated/agreements/{draft['id']}/approve").status_code == 200
    assert _refused(app, draft["id"], [partner[1]], secagg=True, dp=True) == ["agreement_expired"]


def test_a_partner_whose_key_is_not_registered_is_refused(
    app: Flask, agreement: str, partner: tuple[str, str]
) -> None:
    _pem, stranger = _node_key()
    assert _refused(app, agreement, [stranger], secagg=True, dp=True) == [
        "partner_key_not_registered"
    ]


def test_privacy_can_be_turned_off_only_if_the_agreement_says_so(
    app: Flask, agreement: str, partner: tuple[str, str]
) -> None:
    assert _refused(app, agreement, [partner[1]], secagg=False, dp=False) == [
        "secagg_required",
        "dp_required",
    ]
    with app.app_context():
        session = get_session()
        assert (
            services.check_runnable(
                session, agreement, partner_keys=[partner[1]], secagg=True, dp=True
            ).id
            == agreement
        )


def test_approval_needs_a_dpo_with_a_fresh_second_factor(
    app: Flask, as_dpo: Any, as_operator: Any, as_service: Any, partner: tuple[str, str]
) -> None:
    draft = _draft(as_dpo, partner[0])
    assert (
        as_operator("admin").post(f"/api/v1/federated/agreements/{draft['id']}/approve").status_code
        == 403
    )
    assert (
        as_service(permissions=["catalog:read"])
        .post(f"/api/v1/federated/agreements/{draft['id']}/approve")
        .status_code
        == 403
    )
    with app.app_context():
        stale = Actor(
            type="operator", id="1", mfa_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        )
        with pytest.raises(ApiError) as raised:
            services.approve_agreement(get_session(), draft["id"], actor=stale)
        assert raised.value.problem.slug == "step-up-required"


def test_an_agreement_must_be_for_a_separate_consent_purpose_and_catalog_fields(
    as_dpo: Any, partner: tuple[str, str]
) -> None:
    body = {
        "partner": partner[0],
        "purpose": "marketing_push",
        "fields": ["city", "shoe_size"],
        "label_field": "coupon_use",
        "valid_from": TODAY.isoformat(),
        "valid_until": (TODAY - dt.timedelta(days=1)).isoformat(),
    }
    resp = as_dpo.post("/api/v1/federated/agreements", json=body)
    assert resp.status_code == 422
    assert set(resp.get_json()["errors"]) == {"purpose", "fields", "label_field", "valid_until"}


# -- consent-gated cohorts ------------------------------------------------------------------


def _grant(session: Any, subject: str, kind: str = "grant") -> None:
    extra: dict[str, Any] = {}
    if kind == "grant":
        extra = {"tier": "payment", "notice_version": "2026-09", "evidence_sha256": EVIDENCE}
    ledger.record(
        session,
        ledger.Change(
            subject=subject,
            purposes=(PURPOSE,),
            kind=kind,
            channel="portal",
            acted_by="subject",
            actor_id=subject,
            **extra,
        ),
        now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
    )


@pytest.fixture
def customers(app: Flask, agreement: str) -> Iterator[list[str]]:
    """Four customers with the agreement's fields; three consented to joint modelling."""
    with app.app_context():
        session = get_session()
        made = [
            create_subject(
                session,
                {
                    "order_total_12m": 100.0 + n,
                    "coupon_use": n,
                    "store_visits": 2 * n,
                    "city": "杭州",
                },
            )
            for n in range(4)
        ]
        session.flush()
        for subject in made[:3]:
            _grant(session, subject)
        session.commit()
        yield made


def test_a_withdrawal_between_runs_drops_the_customer_from_the_next_cohort(
    app: Flask, agreement: str, customers: list[str], tmp_path: Path
) -> None:
    with app.app_context():
        session = get_session()
        record = session.get(Agreement, agreement)
        assert record is not None
        first = services.prepare_cohort(session, record, tmp_path / "run1")
        key = services.blinding_key(record)
        manifest = load_manifest(first.manifest, first.public_key)
        assert first.size == len(manifest) == 3
        assert set(manifest.blinded_ids) == {blind_id(key, s) for s in customers[:3]}
        rows = [json.loads(line) for line in first.rows.read_text().splitlines()]
        assert sorted(r["subject"] for r in rows) == sorted(customers[:3])
        assert all(set(r["values"]) == set(FIELDS) for r in rows)  # nothing beyond the agreement

        _grant(session, customers[1], "withdraw")
        session.commit()
        second = services.prepare_cohort(session, record, tmp_path / "run2")
        again = load_manifest(second.manifest, second.public_key)
        assert second.size == len(again) == 2
        assert blind_id(key, customers[1]) not in again.blinded_ids
        assert second.manifest_sha256 != first.manifest_sha256
        cohorts = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "federated.cohort")
        ).all()
        assert [json.loads(e.details)["cohort"] for e in cohorts] == [3, 2]


def test_a_run_is_recorded_audited_and_registered_with_its_lineage(
    app: Flask, agreement: str, customers: list[str], tmp_path: Path, as_dpo: Any
) -> None:
    with app.app_context():
        session = get_session()
        record = session.get(Agreement, agreement)
        assert record is not None
        cohort = services.prepare_cohort(session, record, tmp_path / "run")
        run = services.start_run(
            session,
            record,
            mode="horizontal",
            participants=["brand", record.partner_id],
            cohort_sizes={"brand": cohort.size},
            manifest_sha256=cohort.manifest_sha256,
            privacy={"secagg": True, "dp_noise_multiplier": 1.0, "dp_clipping_norm": 1.0},
        )
        services.finish_run(
            session,
            run,
            status="complete",
            metrics={"auc": 0.81234, "rounds": 3},
            model_sha256="ab" * 32,
            rounds=[{"auc": 0.7}, {"auc": 0.8}, {"auc": 0.81234}],
        )
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert actions.count("federated.run.round") == 3
        assert actions.index("federated.run.start") < actions.index("federated.run.done")
    listed = as_dpo.get("/api/v1/federated/runs").get_json()
    assert listed[0]["model_sha256"] == "ab" * 32
    assert listed[0]["manifest_sha256"] == cohort.manifest_sha256
    assert listed[0]["policy_bundle_hash"] and listed[0]["cohort_sizes"] == {"brand": 3}


def test_the_runs_command_lists_refusals_with_their_reasons(
    app: Flask, as_dpo: Any, partner: tuple[str, str]
) -> None:
    draft = _draft(as_dpo, partner[0])
    _refused(app, draft["id"], [partner[1]], secagg=True, dp=True)
    result = app.test_cli_runner().invoke(args=["federated", "runs"])
    assert result.exit_code == 0, result.output
    assert f"{draft['id']}  horizontal  refused  agreement_not_approved" in result.output


def test_a_malformed_or_unauthorised_partner_registration_writes_nothing(
    app: Flask, catalog: Any, as_dpo: Any, as_operator: Any
) -> None:
    from federated.governance.models import Partner

    good = {"name": "Example Bank (fictional)", "contact": "fl@bank.example.com"}
    for body in (
        {**good, "supernode_public_key": "not a key"},
        {**good, "supernode_public_key": _node_key()[0], "extra": 1},
        {"name": "x" * 500, "contact": "c", "supernode_public_key": _node_key()[0]},
    ):
        resp = as_dpo.post("/api/v1/federated/partners", json=body)
        assert resp.status_code == 422, resp.get_json()
        assert "not a key" not in resp.get_data(as_text=True)
    forbidden = as_operator("marketing").post(
        "/api/v1/federated/partners", json={**good, "supernode_public_key": _node_key()[0]}
    )
    assert forbidden.status_code == 403
    with app.app_context():
        assert get_session().scalars(select(Partner)).all() == []
