"""Partners, agreements, the checks before a run, consent-gated cohorts, and the registry.

Services take the session; the ones that record a decision (a refusal, a cohort, a run's
start and end) commit it, because a refused or started run must be on record even when
what follows fails. Audit details hold ids, counts, hashes and parameters; never a
customer's value, never a key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

import audit
import policies
from consent.catalog.models import CatalogField, Purpose
from federated.governance.models import Agreement, FederatedRun, Partner
from federated.manifest import blind_id, build_manifest, canonical_bytes, sign_manifest
from governance.auth.actors import Actor, require_step_up
from governance.brands import DEFAULT_BRAND, require_brand
from governance.db import utcnow
from governance.errors import ApiError
from governance.keys import Keyring, load_signing_key
from policies.inputs import LOCAL_ZONE

__all__ = [
    "CohortFiles",
    "approve_agreement",
    "check_runnable",
    "create_agreement",
    "finish_run",
    "partner_actor",
    "prepare_cohort",
    "register_partner",
    "revoke_agreement",
    "start_run",
]


def _new_id(prefix: str) -> str:
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(16)).rstrip(b"=").decode()


def _keyring() -> Keyring:
    from governance.profiles.crypto import profile_crypto

    return profile_crypto().keyring


def _blinding_aad(agreement_id: str) -> bytes:
    return f"agreement-blinding:{agreement_id}".encode()


# -- partners and agreements -------------------------------------------------------------------


def register_partner(
    session: Session,
    *,
    name: str,
    contact: str,
    supernode_public_key: str,
    brand: str = DEFAULT_BRAND,
) -> Partner:
    """Register a partner and its SuperNode's public key (PEM); audited."""
    require_brand(session, brand)
    try:
        key = serialization.load_pem_public_key(supernode_public_key.encode())
    except (ValueError, TypeError):
        raise ApiError(
            "validation-error",
            "The SuperNode public key is not a PEM public key.",
            errors={"supernode_public_key": ["Send the node's public key in PEM."]},
        ) from None
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    partner = Partner(
        id=_new_id("ptn_"),
        name=name.strip(),
        contact=contact.strip(),
        supernode_public_key=supernode_public_key.strip(),
        supernode_key_sha256=hashlib.sha256(der).hexdigest(),
        brand_id=brand,
    )
    session.add(partner)
    session.flush()
    audit.record(
        session,
        action="federated.partner.register",
        resource=f"partner:{partner.id}",
        details={"partner": partner.id, "supernode_key_sha256": partner.supernode_key_sha256},
    )
    return partner


def create_agreement(
    session: Session,
    *,
    partner_id: str,
    purpose: str,
    fields: Sequence[str],
    label_field: str,
    valid_from: dt.date,
    valid_until: dt.date,
    secagg_required: bool = True,
    dp_required: bool = True,
    dp_noise_multiplier: float = 1.0,
    dp_clipping_norm: float = 1.0,
) -> Agreement:
    """Draft an agreement (to be approved by a DPO); audited.

    The purpose must be a consent purpose of the catalog that needs separate consent (joint
    modelling is a provision to a third party, PIPL art. 23); the fields must be catalog
    fields; the categories allowed are theirs.
    """
    errors: dict[str, list[str]] = {}
    partner = session.get(Partner, partner_id)
    if partner is None:
        errors["partner"] = ["No such partner."]
    spec = session.get(Purpose, purpose)
    if spec is None:
        errors["purpose"] = ["Not in the catalog."]
    elif spec.legal_basis != "consent" or not spec.separate_consent:
        errors["purpose"] = ["Joint modelling needs a consent purpose with separate consent."]
    catalog = {f.name: f for f in session.scalars(select(CatalogField))}
    unknown = [str(i) for i, f in enumerate(fields) if f not in catalog]
    if unknown or not fields or len(set(fields)) != len(fields):
        errors["fields"] = [
            "Name catalog fields, each once (positions: " + ", ".join(unknown) + ")."
        ]
    if label_field not in fields:
        errors["label_field"] = ["The label must be one of the agreement's fields."]
    if valid_until < valid_from:
        errors["valid_until"] = ["Must not be before valid_from."]
    if not 0 < dp_clipping_norm <= 1000 or not 0 <= dp_noise_multiplier <= 100:
        errors["dp"] = ["Clipping norm in (0, 1000], noise multiplier in [0, 100]."]
    if errors:
        raise ApiError("validation-error", "The agreement is not well formed.", errors=errors)
    agreement_id = _new_id("agr_")
    blinding_key = secrets.token_bytes(32)
    agreement = Agreement(
        id=agreement_id,
        partner_id=partner_id,
        purpose=purpose,
        categories=sorted({catalog[f].category for f in fields}),
        fields=list(fields),
        label_field=label_field,
        valid_from=valid_from,
        valid_until=valid_until,
        secagg_required=secagg_required,
        dp_required=dp_required,
        dp_noise_multiplier=float(dp_noise_multiplier),
        dp_clipping_norm=float(dp_clipping_norm),
        status="draft",
        blinding_key_wrapped=_keyring().wrap(blinding_key, _blinding_aad(agreement_id)),
    )
    session.add(agreement)
    session.flush()
    audit.record(
        session,
        action="federated.agreement.create",
        purpose=purpose,
        resource=f"agreement:{agreement.id}",
        details=_agreement_details(agreement),
    )
    return agreement


def _agreement_details(agreement: Agreement) -> dict[str, Any]:
    return {
        "agreement": agreement.id,
        "partner": agreement.partner_id,
        "fields": sorted(agreement.fields),
        "valid_from": agreement.valid_from.isoformat(),
        "valid_until": agreement.valid_until.isoformat(),
        "secagg_required": agreement.secagg_required,
        "dp_required": agreement.dp_required,
    }


def _require_agreement(session: Session, agreement_id: str) -> Agreement:
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise ApiError("not-found", "No such agreement.")
    return agreement


def approve_agreement(session: Session, agreement_id: str, *, actor: Actor) -> Agreement:
    """A DPO approves a draft (with a second factor entered in the last few minutes)."""
    require_step_up(actor, "Approving an agreement")
    agreement = _require_agreement(session, agreement_id)
    if agreement.status != "draft":
        raise ApiError(
            "conflict", f"The agreement is {agreement.status}; only a draft is approved."
        )
    agreement.status = "approved"
    agreement.approved_by = actor.id
    agreement.approved_at = utcnow()
    audit.record(
        session,
        action="federated.agreement.approve",
        purpose=agreement.purpose,
        resource=f"agreement:{agreement.id}",
        details=_agreement_details(agreement),
    )
    return agreement


def revoke_agreement(session: Session, agreement_id: str) -> Agreement:
    """Revoke an agreement: no further run under it."""
    agreement = _require_agreement(session, agreement_id)
    agreement.status = "revoked"
    audit.record(
        session,
        action="federated.agreement.revoke",
        purpose=agreement.purpose,
        resource=f"agreement:{agreement.id}",
        details={"agreement": agreement.id},
    )
    return agreement


def blinding_key(agreement: Agreement) -> bytes:
    """The agreement's blinding key (shared with its participants, never logged)."""
    return _keyring().unwrap(agreement.blinding_key_wrapped, _blinding_aad(agreement.id))


def partner_actor(agreement: Agreement) -> Actor:
    """The partner as the policies see it in a run under ``agreement``.

    The policies compare the agreement's dates with the request's day themselves.
    """
    return Actor(
        type="partner",
        id=agreement.partner_id,
        agreement={
            "id": agreement.id,
            "purposes": [agreement.purpose],
            "categories": list(agreement.categories),
            "valid_from": agreement.valid_from.isoformat(),
            "valid_until": agreement.valid_until.isoformat(),
            "approved": agreement.status == "approved",
        },
    )


# -- before a run ------------------------------------------------------------------------------


def check_runnable(
    session: Session,
    agreement_id: str,
    *,
    partner_keys: Sequence[str],
    secagg: bool,
    dp: bool,
    mode: str = "horizontal",
    now: dt.datetime | None = None,
) -> Agreement:
    """The agreement, if a run may start under it; otherwise refuse, record and audit.

    ``partner_keys``: the SHA-256 of each SuperNode public key about to join (the
    partner's must be the registered one). Refusal reasons: ``agreement_not_found``,
    ``agreement_not_approved``, ``agreement_expired``, ``partner_key_not_registered``,
    ``secagg_required``, ``dp_required``. A refusal is a 409 ``conflict`` naming them.
    """
    now = now or utcnow()
    today = now.astimezone(LOCAL_ZONE).date()
    agreement = session.get(Agreement, agreement_id)
    reasons: list[str] = []
    if agreement is None:
        reasons.append("agreement_not_found")
    else:
        if agreement.status != "approved":
            reasons.append("agreement_not_approved")
        if not agreement.valid_from <= today <= agreement.valid_until:
            reasons.append("agreement_expired")
        partner = session.get(Partner, agreement.partner_id)
        if partner is None or partner.supernode_key_sha256 not in set(partner_keys):
            reasons.append("partner_key_not_registered")
        if agreement.secagg_required and not secagg:
            reasons.append("secagg_required")
        if agreement.dp_required and not dp:
            reasons.append("dp_required")
    if not reasons and agreement is not None:
        return agreement
    run_id = _new_id("run_")
    if agreement is not None:
        session.add(
            FederatedRun(
                id=run_id,
                agreement_id=agreement.id,
                mode=mode,
                status="refused",
                reasons=reasons,
                finished_at=now,
            )
        )
    audit.record(
        session,
        action="federated.run.refused",
        decision="deny",
        purpose=agreement.purpose if agreement is not None else None,
        resource=f"agreement:{agreement_id}"[:128],
        reasons=reasons,
        details={"run": run_id, "mode": mode, "secagg": secagg, "dp": dp},
    )
    session.commit()
    raise ApiError(
        "conflict",
        "The run is refused: " + ", ".join(reasons) + ".",
        members={"reasons": reasons},
    )


# -- the consent-gated cohort ------------------------------------------------------------------


@dataclass(frozen=True)
class CohortFiles:
    """What a run's participants read: the brand's rows, and a signed manifest for each."""

    rows: Path  # the brand's training rows (JSON Lines, the export's shape)
    manifests: dict[str, Path]  # party -> its signed manifest of the cohort's blinded ids
    public_key: Path  # the platform's manifest-signing public key (PEM)
    blinding_key: Path  # the agreement's blinding key (hex, mode 0600)
    size: int
    manifest_sha256: dict[str, str]  # party -> SHA-256 of its manifest's canonical bytes
    export_id: str

    @property
    def manifest(self) -> Path:
        """The first party's manifest (the brand's)."""
        return next(iter(self.manifests.values()))


def _write_private(path: Path, data: bytes) -> None:
    import os

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def prepare_cohort(
    session: Session,
    agreement: Agreement,
    out_dir: Path,
    *,
    parties: Sequence[str] = ("brand",),
) -> CohortFiles:
    """Export the brand's consenting customers for the agreement, through the guarded read.

    The export runs as the partner under the agreement (so its purpose, categories and
    dates, the customers' separate consent and every other rule apply, and the export is
    audited with its subjects). The rows go to ``out_dir/rows.jsonl``; the manifest of
    their blinded ids, signed with the platform's manifest key, to ``manifest-<party>.json``
    for each of ``parties`` (the same ids; each party's manifest names it).
    """
    from governance.profiles.guarded import export_cohort

    out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    actor = partner_actor(agreement)
    started = export_cohort(session, actor, agreement.purpose, list(agreement.fields))
    key = blinding_key(agreement)
    blinded: list[str] = []
    rows_path = out_dir / "rows.jsonl"
    wanted = set(agreement.fields)
    with rows_path.open("w", encoding="utf-8") as sink:
        rows_path.chmod(0o600)
        for line in started.lines:
            record = json.loads(line)
            # Only customers for whom every field the model needs was revealed train.
            if not wanted <= set(record["values"]) or any(
                v is None for v in record["values"].values()
            ):
                continue
            sink.write(line)
            blinded.append(blind_id(key, record["subject"]))
    signing = load_signing_key(current_app.config["KEY_PATHS"].manifest_signing)
    public = signing.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    key_id = hashlib.sha256(public).hexdigest()[:16]
    paths: dict[str, Path] = {}
    digests: dict[str, str] = {}
    for party in parties:
        manifest = sign_manifest(
            build_manifest(
                agreement_id=agreement.id,
                party=party,
                blinded_ids=blinded,
                blinding_key_id=f"{agreement.id}/blinding",
                purpose=agreement.purpose,
            ),
            signing,
            key_id,
        )
        digests[party] = hashlib.sha256(canonical_bytes(manifest)).hexdigest()
        paths[party] = out_dir / f"manifest-{party}.json"
        paths[party].write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    public_path = out_dir / "manifest-signing.pub.pem"
    public_path.write_bytes(public)
    key_path = out_dir / "blinding.key"
    _write_private(key_path, key.hex().encode())
    audit.record(
        session,
        action="federated.cohort",
        purpose=agreement.purpose,
        resource=f"agreement:{agreement.id}",
        policy_hash=policies.service().bundle_hash,
        details={
            "agreement": agreement.id,
            "export": started.id,
            "cohort": len(blinded),
            "manifest_sha256": digests,
        },
    )
    session.commit()
    return CohortFiles(rows_path, paths, public_path, key_path, len(blinded), digests, started.id)


# -- runs and the registry ---------------------------------------------------------------------


def start_run(
    session: Session,
    agreement: Agreement,
    *,
    mode: str,
    participants: Sequence[str],
    cohort_sizes: dict[str, int],
    manifest_sha256: dict[str, str],
    privacy: dict[str, Any],
) -> FederatedRun:
    """Record and audit a run's start (committed)."""
    run = FederatedRun(
        id=_new_id("run_"),
        agreement_id=agreement.id,
        mode=mode,
        status="running",
        participants=list(participants),
        cohort_sizes=dict(cohort_sizes),
        manifest_sha256=dict(manifest_sha256),
        policy_bundle_hash=policies.service().bundle_hash,
        privacy=dict(privacy),
    )
    session.add(run)
    audit.record(
        session,
        action="federated.run.start",
        purpose=agreement.purpose,
        resource=f"run:{run.id}",
        policy_hash=run.policy_bundle_hash,
        details={
            "run": run.id,
            "agreement": agreement.id,
            "mode": mode,
            "participants": list(participants),
            "cohort_sizes": dict(cohort_sizes),
            "manifest_sha256": dict(manifest_sha256),
            "privacy": _numbers(privacy),
        },
    )
    session.commit()
    return run


def finish_run(
    session: Session,
    run: FederatedRun,
    *,
    status: str,
    metrics: dict[str, Any],
    model_sha256: str | None,
    rounds: Sequence[dict[str, Any]] = (),
) -> FederatedRun:
    """Record the run's end: each round and the result audited, the model registered."""
    for n, one in enumerate(rounds, start=1):
        audit.record(
            session,
            action="federated.run.round",
            resource=f"run:{run.id}",
            details={"run": run.id, "round": n, "metrics": _numbers(one)},
        )
    run.status = status
    run.metrics = _numbers(metrics)
    run.model_sha256 = model_sha256
    run.finished_at = utcnow()
    audit.record(
        session,
        action="federated.run.done",
        decision="allow" if status == "complete" else "error",
        resource=f"run:{run.id}",
        policy_hash=run.policy_bundle_hash,
        details={
            "run": run.id,
            "status": status,
            "model_sha256": model_sha256,
            "metrics": run.metrics,
        },
    )
    session.commit()
    return run


def _numbers(values: dict[str, Any]) -> dict[str, Any]:
    """Metrics as audit details hold them: numbers as strings (the canonical form has no floats)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None or isinstance(value, bool | str | int):
            out[str(key)] = value
        elif isinstance(value, float):
            out[str(key)] = f"{value:.6g}"
    return out
