"""A governed federated run: checks, the consent-gated cohort, the federation, the registry.

:func:`run_governed` does, in order: refuse the run (recorded and audited) unless the
agreement allows it (:func:`services.check_runnable`); export the brand's consenting
customers through the guarded read and sign a manifest of their blinded ids for every
participant (:func:`services.prepare_cohort`); record and audit the start; run the
federation (a loopback Deployment Engine here: SuperLink, one SuperNode per participant,
``flwr run``); then audit every round and the result, and register the model with its
lineage (:func:`services.finish_run`). A run that fails is recorded as failed.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy.orm import Session

from federated.governance import services
from federated.governance.models import FederatedRun

__all__ = ["key_sha256", "run_governed"]

#: The participants of a governed run: the brand (its rows from the platform) and the partner.
BRAND, PARTNER = "brand", "bank"


def key_sha256(pem: str) -> str:
    """The SHA-256 of a public key's DER form, as partners' keys are registered."""
    key = serialization.load_pem_public_key(pem.encode())
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def run_governed(
    session: Session,
    agreement_id: str,
    *,
    partner_rows: Path,
    partner_key_pem: str,
    workdir: Path,
    rounds: int = 3,
    secagg: bool | None = None,
    dp: bool | None = None,
    on_round: Callable[[dict[str, Any]], None] | None = None,
    timeout: float = 900.0,
) -> FederatedRun:
    """Run a horizontal federation under ``agreement_id``; the registered run.

    ``partner_rows``: the partner's own rows (JSON Lines or CSV, federated.rows), filtered on
    its SuperNode by the signed manifest. ``partner_key_pem``: the public key of the
    SuperNode that will join (it must be the one registered for the partner). Privacy
    defaults to what the agreement requires (on, unless it allows it off).
    """
    from governance.errors import ApiError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # typer under flwr, at import
        from federated.loopback import LoopbackFederation, Participant

    agreement = services._require_agreement(session, agreement_id)
    secagg = agreement.secagg_required if secagg is None else secagg
    dp = agreement.dp_required if dp is None else dp
    try:
        partner_key = key_sha256(partner_key_pem)
    except (ValueError, TypeError):
        partner_key = "not-a-key"
    agreement = services.check_runnable(
        session, agreement_id, partner_keys=[partner_key], secagg=secagg, dp=dp
    )
    cohort = services.prepare_cohort(
        session, agreement, workdir / "cohort", parties=(BRAND, PARTNER)
    )
    privacy = {
        "secagg": secagg,
        "dp": dp,
        "dp_noise_multiplier": agreement.dp_noise_multiplier if dp else 0.0,
        "dp_clipping_norm": agreement.dp_clipping_norm if dp else 0.0,
    }
    run = services.start_run(
        session,
        agreement,
        mode="horizontal",
        participants=[BRAND, agreement.partner_id],
        cohort_sizes={BRAND: cohort.size},
        manifest_sha256=cohort.manifest_sha256,
        privacy=privacy,
    )
    manifest_config = {
        "manifest-public-key": str(cohort.public_key),
        "blinding-key": str(cohort.blinding_key),
    }
    participants = [
        Participant(
            BRAND,
            {
                "data-path": str(cohort.rows),
                "cohort-manifest": str(cohort.manifests[BRAND]),
                **manifest_config,
            },
        ),
        Participant(
            PARTNER,
            {
                "data-path": str(partner_rows),
                "cohort-manifest": str(cohort.manifests[PARTNER]),
                **manifest_config,
            },
        ),
    ]
    run_config: dict[str, Any] = {
        "mode": "horizontal",
        "num-server-rounds": rounds,
        "secagg": secagg,
        "dp": dp,
        "label-field": agreement.label_field,
        "agreement-id": agreement.id,
        "result-path": str(workdir / "result.json"),
    }
    if dp:
        run_config["dp-noise-multiplier"] = agreement.dp_noise_multiplier
        run_config["dp-clipping-norm"] = agreement.dp_clipping_norm
    try:
        with LoopbackFederation(workdir / "federation", participants) as federation:
            federation.start()
            result = federation.run(run_config, timeout=timeout, on_round=on_round)
    except Exception as exc:
        session.rollback()
        services.finish_run(
            session,
            run,
            status="failed",
            metrics={"error": type(exc).__name__},
            model_sha256=None,
        )
        if isinstance(exc, ApiError):
            raise
        raise ApiError(
            "service-unavailable", f"The federated run failed ({type(exc).__name__})."
        ) from exc
    sizes = {p["party"]: int(p["cohort_size"]) for p in result["participants"]}
    hashes = {p["party"]: p["manifest_sha256"] for p in result["participants"]}
    run.cohort_sizes = sizes
    run.manifest_sha256 = {**cohort.manifest_sha256, **{k: v for k, v in hashes.items() if v}}
    final = result.get("final") or {}
    return services.finish_run(
        session,
        run,
        status="complete",
        metrics={
            "auc": final.get("auc"),
            "accuracy": final.get("accuracy"),
            "loss": final.get("loss"),
            "rounds": len(result["rounds"]),
            "app_code_sha256": result["app"]["code_sha256"],
        },
        model_sha256=(result.get("model") or {}).get("sha256"),
        rounds=[
            {"auc": r.get("auc"), "loss": r.get("loss"), "examples": r.get("examples")}
            for r in result["rounds"]
        ],
    )
