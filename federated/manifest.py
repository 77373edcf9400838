"""Signed cohort manifests of blinded customer identifiers.

The platform decides which customers may be used for an agreement's joint-modelling
purpose (those who consented) and hands each participant a **cohort manifest**: the
customers' blinded identifiers, signed. A participant trains only on its rows whose blinded
id is in the manifest, and refuses to train at all when the signature does not verify.

Blinding: ``HMAC-SHA256(agreement_key, customer_id)``, lower-case hex, where
``agreement_key`` is a per-agreement secret (at least 32 bytes) that the platform shares with
the participants of that agreement only (:func:`blind_id`).

The document (JSON, UTF-8)::

    {
      "format": "federated-cohort-manifest/1",
      "agreement_id": "agr_...",
      "party": "bank",
      "purpose": "joint_modelling",
      "issued_at": "2026-01-01T00:00:00Z",
      "expires_at": "2026-01-08T00:00:00Z",       # or null
      "blinding": "hmac-sha256",
      "blinding_key_id": "...",                    # names the agreement key, never holds it
      "count": 2,
      "blinded_ids": ["<64 hex>", "<64 hex>"],     # sorted, unique
      "signature": {"alg": "Ed25519", "key_id": "...", "value": "<base64>"}
    }

The signature is Ed25519 over the *canonical bytes* of every member but ``signature``:
``json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` in
UTF-8 (:func:`canonical_bytes`). The manifest's hash, recorded in a run's lineage, is the
SHA-256 of those same bytes (:attr:`CohortManifest.sha256`).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "MANIFEST_FORMAT",
    "CohortManifest",
    "ManifestError",
    "blind_id",
    "build_manifest",
    "canonical_bytes",
    "load_manifest",
    "load_public_key",
    "read_blinding_key",
    "sign_manifest",
    "verify_manifest",
]

MANIFEST_FORMAT = "federated-cohort-manifest/1"
_REQUIRED = (
    "format",
    "agreement_id",
    "party",
    "purpose",
    "issued_at",
    "blinding",
    "count",
    "blinded_ids",
)


class ManifestError(ValueError):
    """A manifest (or its key) is missing, malformed, expired, or its signature is bad."""


@dataclass(frozen=True)
class CohortManifest:
    """A verified manifest: who it is for, and the blinded ids it admits."""

    agreement_id: str
    party: str
    purpose: str
    issued_at: str
    expires_at: str | None
    blinded_ids: frozenset[str]
    sha256: str
    key_id: str

    def __contains__(self, blinded: object) -> bool:
        return blinded in self.blinded_ids

    def __len__(self) -> int:
        return len(self.blinded_ids)


def blind_id(key: bytes, customer_id: str) -> str:
    """The blinded form of ``customer_id`` under an agreement's key (HMAC-SHA256, hex)."""
    return hmac.new(key, customer_id.encode("utf-8"), hashlib.sha256).hexdigest()


def canonical_bytes(payload: Mapping[str, Any]) -> bytes:
    """The bytes that are signed and hashed: sorted keys, no spaces, UTF-8."""
    body = {k: v for k, v in payload.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _utc(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_manifest(
    *,
    agreement_id: str,
    party: str,
    blinded_ids: Iterable[str],
    blinding_key_id: str,
    purpose: str = "joint_modelling",
    issued_at: dt.datetime | None = None,
    expires_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """An unsigned manifest document (sorted, de-duplicated ids)."""
    ids = sorted(set(blinded_ids))
    return {
        "format": MANIFEST_FORMAT,
        "agreement_id": agreement_id,
        "party": party,
        "purpose": purpose,
        "issued_at": _utc(issued_at or dt.datetime.now(dt.UTC)),
        "expires_at": _utc(expires_at) if expires_at else None,
        "blinding": "hmac-sha256",
        "blinding_key_id": blinding_key_id,
        "count": len(ids),
        "blinded_ids": ids,
    }


def sign_manifest(
    payload: Mapping[str, Any], private_key: Ed25519PrivateKey, key_id: str
) -> dict[str, Any]:
    """The manifest with its ``signature`` member (Ed25519 over :func:`canonical_bytes`)."""
    signature = private_key.sign(canonical_bytes(payload))
    signed = {k: v for k, v in payload.items() if k != "signature"}
    signed["signature"] = {
        "alg": "Ed25519",
        "key_id": key_id,
        "value": base64.b64encode(signature).decode("ascii"),
    }
    return signed


def _parse_time(value: object, name: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ManifestError(f"manifest {name} must be a string")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ManifestError(f"manifest {name} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ManifestError(f"manifest {name} has no time zone")
    return parsed


def verify_manifest(
    document: Mapping[str, Any],
    public_key: Ed25519PublicKey,
    *,
    party: str | None = None,
    now: dt.datetime | None = None,
) -> CohortManifest:
    """Check the signature, then the shape, the party and the expiry; the manifest.

    Raises :class:`ManifestError` on any failure; nothing is admitted from a manifest that
    does not verify.
    """
    signature = document.get("signature")
    if not isinstance(signature, Mapping) or signature.get("alg") != "Ed25519":
        raise ManifestError("manifest is not signed with Ed25519")
    try:
        raw = base64.b64decode(str(signature.get("value", "")), validate=True)
        public_key.verify(raw, canonical_bytes(document))
    except (InvalidSignature, ValueError):
        raise ManifestError("manifest signature does not verify") from None
    missing = [name for name in _REQUIRED if name not in document]
    if missing:
        raise ManifestError(f"manifest lacks {', '.join(missing)}")
    if document["format"] != MANIFEST_FORMAT:
        raise ManifestError(f"manifest format is not {MANIFEST_FORMAT}")
    if document["blinding"] != "hmac-sha256":
        raise ManifestError("manifest blinding is not hmac-sha256")
    ids = document["blinded_ids"]
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise ManifestError("manifest blinded_ids must be a list of strings")
    if document["count"] != len(ids) or len(set(ids)) != len(ids):
        raise ManifestError("manifest count does not match its unique blinded ids")
    if party is not None and document["party"] != party:
        raise ManifestError("manifest was issued for another party")
    current = now or dt.datetime.now(dt.UTC)
    _parse_time(document["issued_at"], "issued_at")
    expires = document.get("expires_at")
    if expires is not None and _parse_time(expires, "expires_at") <= current:
        raise ManifestError("manifest has expired")
    return CohortManifest(
        agreement_id=str(document["agreement_id"]),
        party=str(document["party"]),
        purpose=str(document["purpose"]),
        issued_at=str(document["issued_at"]),
        expires_at=None if expires is None else str(expires),
        blinded_ids=frozenset(ids),
        sha256=hashlib.sha256(canonical_bytes(document)).hexdigest(),
        key_id=str(signature.get("key_id", "")),
    )


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM (SubjectPublicKeyInfo) file."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"manifest public key {path} cannot be loaded ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ManifestError(f"manifest public key {path} is not an Ed25519 key")
    return key


def load_manifest(
    path: Path,
    public_key_path: Path,
    *,
    party: str | None = None,
    now: dt.datetime | None = None,
) -> CohortManifest:
    """Read, verify and return the manifest at ``path``."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ManifestError(f"manifest {path} cannot be read ({exc})") from None
    if not isinstance(document, dict):
        raise ManifestError("manifest must be a JSON object")
    return verify_manifest(document, load_public_key(public_key_path), party=party, now=now)


def read_blinding_key(path: Path) -> bytes:
    """The agreement's blinding key: hex in a file only its owner can read (>= 32 bytes)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"blinding key {path} cannot be read ({exc})") from None
    if mode & 0o077:
        raise ManifestError(f"blinding key {path} is readable by others; chmod 600 it")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ManifestError(f"blinding key {path} is not hex") from None
    if len(key) < 32:
        raise ManifestError(f"blinding key {path} is shorter than 32 bytes")
    return key
