"""Consent receipts: a signed record, for the customer, of each grant and withdrawal.

A receipt is a compact JWS (RFC 7515) signed with Ed25519 (``alg`` ``EdDSA``, RFC 8037)
by the receipt-signing key, a key of its own (``consent-receipt-signing.pem``), apart from
the audit-signing and encryption keys. Its payload carries the Kantara Consent Receipt
v1.1 / ISO/IEC TS 27560 fields that apply, plus what PIPL needs (tier, separate consent,
who acted). The public key is published as a JWKS (RFC 7517, OKP keys of RFC 8037) at
``/.well-known/governance-consent-jwks.json`` (:mod:`consent.receipts_views`), and
:func:`verify` checks a receipt with nothing but that JWKS: no Flask, no database.

:func:`issue` sets ``receipt_id`` and ``receipt_jws`` on an event *before* it is inserted
(events are append-only). Given the same inputs and receipt id it produces the same
bytes: the payload is canonical JSON and Ed25519 signatures are deterministic.

The compact serialisation is written here rather than taken from a JOSE library: for one
fixed algorithm it is a few lines over ``cryptography``, and :func:`verify` is stricter
than general-purpose libraries (canonical base64url only, so no two encodings of one
receipt verify; no header parameter beyond ``alg``, ``kid`` and ``typ``; duplicate JSON
keys refused). Any JOSE library that supports EdDSA verifies these receipts too.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from consent.tiers import Tier

if TYPE_CHECKING:
    from flask import Flask

    from consent.catalog.models import Purpose
    from consent.models import ConsentEvent

__all__ = [
    "ALG",
    "RECEIPT_KINDS",
    "TYP",
    "InvalidReceipt",
    "ReceiptSigner",
    "build_payload",
    "get_signer",
    "issue",
    "jwks",
    "new_receipt_id",
    "pi_categories",
    "retired_keys",
    "retired_keys_path",
    "verify",
]

ALG = "EdDSA"
#: Explicit type (RFC 8725 section 3.11): a receipt is not mistaken for another JWT.
TYP = "consent-receipt+jwt"
#: The event kinds that yield a receipt.
RECEIPT_KINDS = frozenset({"grant", "withdraw"})
#: The specification whose field names the payload uses.
RECEIPT_VERSION = "KI-CR-v1.1.0"
JURISDICTION = "CN"
DEFAULT_LANGUAGE = "zh-CN"
#: ``Purpose.separate_consent_reason`` of purposes that process sensitive PI (art. 29).
SENSITIVE_REASON = "sensitive_pi"
RECEIPT_ID_PREFIX = "rcpt_"

_SIGNER = "consent.receipt_signer"
_HEADER_PARAMS = frozenset({"alg", "kid", "typ"})
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_SUBJECT_ID = re.compile(r"^sub_[A-Za-z0-9_-]{22}$")
_RECEIPT_ID = re.compile(r"^rcpt_[A-Za-z0-9_-]{22}$")


class InvalidReceipt(ValueError):
    """A receipt that does not verify: malformed, unknown key, wrong algorithm or tampered."""


class CatalogFieldLike(Protocol):
    """What a receipt needs of a catalog field (``consent.catalog.models.CatalogField``)."""

    @property
    def category(self) -> str:
        """The field's PI category."""

    @property
    def tier(self) -> str:
        """The consent tier the field needs."""


# -- base64url and JSON, strictly --------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: str, what: str) -> bytes:
    """Decode unpadded base64url in its canonical form only (one encoding per byte string)."""
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise InvalidReceipt(f"{what} is not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidReceipt(f"{what} is not base64url") from None
    if _b64url(data) != text:  # stray bits in the last character
        raise InvalidReceipt(f"{what} is not in canonical base64url")
    return data


def _canonical_json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidReceipt("duplicate member in JSON")
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidReceipt(f"{name} is not JSON")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"),
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise InvalidReceipt(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidReceipt(f"{what} is not a JSON object")
    return value


# -- keys --------------------------------------------------------------------------------------


def _raw_public_key(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """16 hex digits of SHA-256 of the raw public key (as ``audit.checkpoint.key_id``)."""
    return hashlib.sha256(_raw_public_key(key)).hexdigest()[:16]


@dataclass(frozen=True)
class ReceiptSigner:
    """The receipt-signing key and its key id."""

    key: Ed25519PrivateKey
    kid: str

    @classmethod
    def from_key(cls, key: Ed25519PrivateKey) -> ReceiptSigner:
        """A signer for ``key``; the key id is derived from its public key."""
        return cls(key=key, kid=key_id(key.public_key()))

    def __repr__(self) -> str:
        return f"ReceiptSigner(kid={self.kid!r})"  # never the key

    def public_jwk(self) -> dict[str, str]:
        """The public key as an RFC 8037 OKP JWK."""
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": _b64url(_raw_public_key(self.key.public_key())),
            "kid": self.kid,
            "use": "sig",
            "alg": ALG,
        }

    def sign(self, payload: Mapping[str, Any]) -> str:
        """``payload`` as a compact JWS: canonical JSON, header ``alg``, ``kid``, ``typ``."""
        header = _canonical_json({"alg": ALG, "kid": self.kid, "typ": TYP})
        signing_input = f"{_b64url(header)}.{_b64url(_canonical_json(payload))}"
        signature = self.key.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64url(signature)}"


def get_signer(app: Flask | None = None) -> ReceiptSigner:
    """The app's receipt signer (the key file is read once per app)."""
    from flask import current_app

    from governance.keys import load_signing_key

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    signer: ReceiptSigner | None = app.extensions.get(_SIGNER)
    if signer is None:
        signer = ReceiptSigner.from_key(load_signing_key(app.config["KEY_PATHS"].receipt_signing))
        app.extensions[_SIGNER] = signer
    return signer


def retired_keys_path(key_path: Path) -> Path:
    """Where the public keys of replaced receipt-signing keys are kept, beside the key.

    ``consent-receipt-signing.pem`` -> ``consent-receipt-signing.retired.jwks.json``: a JWK
    Set of public keys only (``governance consent rotate-receipt-key`` writes it).
    """
    return key_path.with_name(f"{key_path.stem}.retired.jwks.json")


def retired_keys(key_path: Path) -> list[dict[str, str]]:
    """The public JWKs of replaced receipt keys (none when the file does not exist)."""
    path = retired_keys_path(key_path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable JWK Set: {exc}") from None
    keys = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(keys, list):
        raise ValueError(f"{path} is not a JWK Set (no 'keys' list)")
    for n, jwk in enumerate(keys):
        kid = jwk.get("kid") if isinstance(jwk, dict) else None
        try:
            if not isinstance(kid, str):
                raise InvalidReceipt("it has no kid")
            if key_id(_public_key({"keys": [jwk]}, kid)) != kid:
                raise InvalidReceipt("its kid is not its key's")
        except InvalidReceipt as exc:
            raise ValueError(f"{path}: key {n} is not a retired receipt key: {exc}") from None
    return keys


def jwks(app: Flask | None = None) -> dict[str, list[dict[str, str]]]:
    """The JWK Set (RFC 7517) of the keys that verify this app's receipts.

    The current key first, then every replaced one: a receipt stays verifiable after its
    key was rotated.
    """
    from flask import current_app

    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    current = get_signer(app).public_jwk()
    retired = retired_keys(app.config["KEY_PATHS"].receipt_signing)
    return {"keys": [current, *(k for k in retired if k.get("kid") != current["kid"])]}


# -- the payload -------------------------------------------------------------------------------


def new_receipt_id() -> str:
    """``rcpt_`` and 128 random bits, URL-safe base64 (22 characters)."""
    return RECEIPT_ID_PREFIX + _b64url(secrets.token_bytes(16))


def pi_categories(fields: Iterable[CatalogFieldLike], tier: str | None) -> list[str]:
    """The PI categories a grant at ``tier`` covers, sorted.

    A category is covered when some catalog field of it needs a tier the grant covers
    (``behaviour`` covers ``basic`` fields too). ``tier`` None (a withdrawal) covers every
    category: after it, the purpose may use none of them.
    """
    granted = None if tier is None else Tier(tier)
    return sorted({f.category for f in fields if granted is None or granted.covers(Tier(f.tier))})


def _utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC; a naive value is taken to be UTC already (as the database stores)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return _utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_payload(
    event: ConsentEvent,
    purpose: Purpose,
    *,
    controller: str,
    receipt_id: str,
    catalog_fields: Iterable[CatalogFieldLike],
    language: str = DEFAULT_LANGUAGE,
) -> dict[str, Any]:
    """The receipt's claims for ``event`` (a grant or withdrawal of ``purpose``).

    Kantara Consent Receipt v1.1 names where one applies; ``noticeVersion``, ``event``,
    ``actedBy``, ``tier``, ``legalBasis``, ``separateConsentReason`` and
    ``thirdPartyCountry`` are this platform's additions. Deterministic: nothing here reads
    a clock or a random source.
    """
    if event.kind not in RECEIPT_KINDS:
        raise ValueError(f"a {event.kind!r} event has no receipt (only grants and withdrawals)")
    if event.purpose != purpose.id:
        raise ValueError("the event and the purpose differ")
    if not _SUBJECT_ID.match(event.subject_id or ""):
        raise ValueError("a receipt names the subject by opaque id (sub_...), never a value")
    if not _RECEIPT_ID.match(receipt_id):
        raise ValueError("a receipt id is rcpt_ and 22 base64url characters")
    if not controller:
        raise ValueError("a receipt names its PII controller")
    tier = event.tier if event.kind == "grant" else None
    if event.kind == "grant" and tier is None:
        raise ValueError("a grant names its tier")
    return {
        "version": RECEIPT_VERSION,
        "jurisdiction": JURISDICTION,
        "consentTimestamp": int(_utc(event.occurred_at).timestamp()),
        "collectionMethod": event.channel,
        "consentReceiptID": receipt_id,
        "language": language,
        "piiPrincipalId": event.subject_id,
        "piiControllers": [{"piiController": controller}],
        "noticeVersion": event.notice_version,
        "event": event.kind,
        "actedBy": event.acted_by,
        "services": [
            {
                "service": controller,
                "purposes": [
                    {
                        "purposeId": purpose.id,
                        "purpose": purpose.name_en,
                        "purposeNames": {"en": purpose.name_en, "zh-CN": purpose.name_zh},
                        "legalBasis": purpose.legal_basis,
                        "consentType": "EXPLICIT",
                        "primaryPurpose": not purpose.optional,
                        "tier": tier,
                        "piiCategory": pi_categories(catalog_fields, tier),
                        "termination": _iso(event.valid_until),
                        "separateConsentReason": purpose.separate_consent_reason,
                        "thirdPartyDisclosure": purpose.recipient is not None,
                        "thirdPartyName": purpose.recipient,
                        "thirdPartyCountry": purpose.recipient_country,
                    }
                ],
            }
        ],
        "sensitive": purpose.separate_consent_reason == SENSITIVE_REASON,
    }


def issue(
    event: ConsentEvent,
    purpose: Purpose,
    *,
    signer: ReceiptSigner,
    controller: str,
    catalog_fields: Iterable[CatalogFieldLike],
    language: str = DEFAULT_LANGUAGE,
    receipt_id: str | None = None,
) -> None:
    """Set ``event.receipt_id`` and ``event.receipt_jws``; call before the event is inserted.

    ``catalog_fields`` is the field catalog in force (``consent.catalog.services
    .list_fields``), from which the PI categories are derived. ``receipt_id`` defaults to
    a new random one. Raises ValueError for an event that has no receipt (refusals,
    expiries, re-consent marks), one that already has a receipt, or one that names the
    subject by anything but its opaque id.
    """
    if event.receipt_id is not None or event.receipt_jws is not None:
        raise ValueError("the event already has a receipt")
    rid = receipt_id or new_receipt_id()
    payload = build_payload(
        event,
        purpose,
        controller=controller,
        receipt_id=rid,
        catalog_fields=catalog_fields,
        language=language,
    )
    event.receipt_jws = signer.sign(payload)
    event.receipt_id = rid


# -- verification (offline) --------------------------------------------------------------------


def _public_key(jwk_set: Mapping[str, Any], kid: str) -> Ed25519PublicKey:
    keys = jwk_set.get("keys") if isinstance(jwk_set, Mapping) else None
    if not isinstance(keys, list):
        raise InvalidReceipt("the JWKS has no 'keys' list")
    found = [k for k in keys if isinstance(k, Mapping) and k.get("kid") == kid]
    if not found:
        raise InvalidReceipt(f"no key with kid {kid!r} in the JWKS")
    if len(found) > 1:
        raise InvalidReceipt(f"more than one key with kid {kid!r} in the JWKS")
    jwk = found[0]
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidReceipt(f"key {kid!r} is not an Ed25519 (OKP) key")
    if jwk.get("alg", ALG) != ALG or jwk.get("use", "sig") != "sig":
        raise InvalidReceipt(f"key {kid!r} is not for EdDSA signatures")
    x = jwk.get("x")
    raw = _unb64url(x, "the key's x") if isinstance(x, str) else b""
    if len(raw) != 32:
        raise InvalidReceipt(f"key {kid!r} is not a 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(jws: str, jwks: Mapping[str, Any]) -> dict[str, Any]:
    """Check a receipt against a JWK Set; return its payload, or raise :class:`InvalidReceipt`.

    Pure and offline: the JWKS is passed in (fetch it once from
    ``/.well-known/governance-consent-jwks.json`` and keep it). Refused: anything but three
    canonical base64url segments; a header other than ``alg`` EdDSA, ``typ``
    ``consent-receipt+jwt`` and a ``kid``; a ``kid`` not in the set; a bad signature; a
    payload that is not a JSON object.
    """
    if not isinstance(jws, str) or not jws.isascii():
        raise InvalidReceipt("a receipt is an ASCII string")
    parts = jws.split(".")
    if len(parts) != 3:
        raise InvalidReceipt("a receipt is three dot-separated segments (compact JWS)")
    header_b64, payload_b64, signature_b64 = parts
    header = _json_object(_unb64url(header_b64, "the header"), "the header")
    if header.get("alg") != ALG:
        raise InvalidReceipt(f"the header's alg must be {ALG}")
    if header.get("typ") != TYP:
        raise InvalidReceipt(f"the header's typ must be {TYP}")
    if set(header) != _HEADER_PARAMS:
        raise InvalidReceipt("the header holds parameters other than alg, kid and typ")
    kid = header["kid"]
    if not isinstance(kid, str):
        raise InvalidReceipt("the header's kid is not a string")
    public_key = _public_key(jwks, kid)
    signature = _unb64url(signature_b64, "the signature")
    try:
        public_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii"))
    except InvalidSignature:
        raise InvalidReceipt("the signature does not verify") from None
    return _json_object(_unb64url(payload_b64, "the payload"), "the payload")
