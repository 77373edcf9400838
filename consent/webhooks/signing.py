"""Webhook signatures: ``X-Governance-Signature: t=<unix time>,v1=<hex HMAC-SHA256>``.

The signed bytes are the decimal timestamp, a full stop, and the exact request body:
``HMAC-SHA256(secret, f"{t}.".encode() + body)``, where the key is the subscription
secret (``whsec_...``) as UTF-8 bytes. The timestamp makes a captured request useless
once it is older than the receiver's tolerance (replay); the body is covered byte for
byte, so a receiver must verify the raw body before parsing it.

This module uses only the standard library, so a receiver written in Python can copy it
as it is. :func:`verify_signature` is the receiver's side; :func:`sign` the sender's.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["DEFAULT_TOLERANCE_S", "SIGNATURE_HEADER", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-Governance-Signature"
#: How far a signature's timestamp may be from the receiver's clock, either way.
DEFAULT_TOLERANCE_S = 300.0
_MAX_TIMESTAMP_DIGITS = 12


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def _mac(secret: str | bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(_key(secret), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The ``X-Governance-Signature`` value for ``body`` (now, unless ``timestamp`` given)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of now.

    ``body`` is the raw request body, before any JSON parsing. The header may carry
    several ``v1=`` values (one of them must match); it must carry exactly one ``t=``.
    Signatures are compared in constant time. ``now`` (Unix seconds) is for tests.
    Anything malformed is simply not a valid signature: the answer is False.
    """
    if not header:
        return False
    timestamps: list[str] = []
    signatures: list[str] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamps.append(value)
        elif name == "v1":
            signatures.append(value)
    if len(timestamps) != 1 or not signatures:
        return False
    stamp = timestamps[0]
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= _MAX_TIMESTAMP_DIGITS):
        return False
    timestamp = int(stamp)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        return False
    expected = _mac(secret, timestamp, body).encode()
    # Every candidate is compared (no early exit), each in constant time.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in signatures]
    return any(matches)
