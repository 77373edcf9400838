"""A governed run on a real loopback Deployment Engine: cohort, federation, registry, audit.

SuperLink, two SuperNodes and ``flwr run`` start for real (``federated.loopback``); the
brand's rows come from the platform through the guarded export of consenting customers,
the partner's from its own file, filtered on its SuperNode by the signed manifest.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import warnings
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
from federated.governance.models import FederatedRun
from governance.auth.actors import Actor
from governance.db import get_session
from governance.errors import ApiError
from governance.profiles.store import create_subject
from tests.consent.conftest import EVIDENCE

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # typer under flwr, at import
    from federated.governance.runs import run_governed

PURPOSE = "joint_modelling_partner_bank"
FEATURES = ["order_total_12m", "coupon_use", "store_visits"]
LABEL = "high_spending_capacity"
CUSTOMERS, CONSENTING = 160, 120


def _row(rng: random.Random) -> dict[str, Any]:
    total = round(rng.lognormvariate(6.0, 0.8), 2)
    coupons = rng.randint(0, 12)
    visits = rng.randint(0, 20)
    score = 0.004 * total + 0.1 * visits - 0.15 * coupons + rng.gauss(0, 0.8)
    return {
        "order_total_12m": total,
        "coupon_use": coupons,
        "store_visits": visits,
        LABEL: int(score > 2.0),
    }


def test_a_governed_run_registers_its_model_with_lineage_and_is_audited(
    app: Flask, catalog: Any, tmp_path: Path
) -> None:
    rng = random.Random(11)
    node_key = ec.generate_private_key(ec.SECP384R1()).public_key()
    pem = node_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    today = dt.datetime.now(dt.UTC).date()
    with app.app_context():
        session = get_session()
        partner = services.register_partner(
            session,
            name="Example Bank (fictional)",
            contact="fl@bank.example.com",
            supernode_public_key=pem,
        )
        agreement = services.create_agreement(
            session,
            partner_id=partner.id,
            purpose=PURPOSE,
            fields=[*FEATURES, LABEL],
            label_field=LABEL,
            valid_from=today - dt.timedelta(days=1),
            valid_until=today + dt.timedelta(days=30),
            secagg_required=False,  # a fast test: the engine's own tests run SecAgg+ and DP
            dp_required=False,
        )
        dpo = Actor(type="operator", id="1", mfa_at=dt.datetime.now(dt.UTC))
        services.approve_agreement(session, agreement.id, actor=dpo)
        session.commit()

        subjects = [create_subject(session, _row(rng)) for _ in range(CUSTOMERS)]
        session.flush()
        for subject in subjects[:CONSENTING]:
            ledger.record(
                session,
                ledger.Change(
                    subject=subject,
                    purposes=(PURPOSE,),
                    kind="grant",
                    channel="portal",
                    acted_by="subject",
                    actor_id=subject,
                    tier="payment",
                    notice_version="2026-09",
                    evidence_sha256=EVIDENCE,
                ),
                now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
            )
        session.commit()
        # The bank knows the same customers, with its own view of the same features.
        partner_rows = tmp_path / "bank.jsonl"
        partner_rows.write_text(
            "".join(json.dumps({"subject": s, "values": _row(rng)}) + "\n" for s in subjects),
            encoding="utf-8",
        )

        # A partner node whose key is not the registered one is refused before anything runs.
        stranger = (
            ec.generate_private_key(ec.SECP384R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )
        with pytest.raises(ApiError):
            run_governed(
                session,
                agreement.id,
                partner_rows=partner_rows,
                partner_key_pem=stranger,
                workdir=tmp_path / "refused",
            )

        run = run_governed(
            session,
            agreement.id,
            partner_rows=partner_rows,
            partner_key_pem=pem,
            workdir=tmp_path / "run",
            rounds=1,
            timeout=300,
        )

        assert run.status == "complete" and run.model_sha256 and len(run.model_sha256) == 64
        # Only consenting customers trained, on both sides (the bank's rows were filtered).
        assert run.cohort_sizes == {"brand": CONSENTING, "bank": CONSENTING}
        assert set(run.manifest_sha256) == {"brand", "bank"}
        assert run.policy_bundle_hash and run.privacy["secagg"] is False
        assert 0.0 <= float(run.metrics["auc"]) <= 1.0
        runs = session.scalars(select(FederatedRun).order_by(FederatedRun.started_at)).all()
        assert [r.status for r in runs] == ["refused", "complete"]
        actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        for expected in (
            "federated.run.refused",
            "profile.export",
            "profile.export.done",
            "federated.cohort",
            "federated.run.start",
            "federated.run.round",
            "federated.run.done",
        ):
            assert expected in actions, expected
        done = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "federated.run.done")
        ).one()
        assert json.loads(done.details)["model_sha256"] == run.model_sha256
