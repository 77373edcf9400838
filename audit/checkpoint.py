"""Signed checkpoints (tree heads): their text form, signing and offline verification.

A checkpoint is a short UTF-8 note in the shape of the C2SP ``tlog-checkpoint`` format,
so it reads like a Certificate Transparency tree head::

    governance.example.com/audit     <- origin: which log
    1204                             <- tree size
    3q2+7w...=                       <- root hash, base64
    chain 9Zx...=                    <- running hash chain after entry size-1, base64
    time 2026-11-25T10:00:00.123456Z

The Ed25519 signature covers exactly these bytes. Everything here is pure: given the note,
the signature and the published public key, anyone can check a checkpoint offline.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from audit.merkle import HASH_SIZE


@dataclass(frozen=True)
class TreeHead:
    """What a checkpoint says."""

    origin: str
    size: int
    root: bytes
    chain: bytes
    time: str


class CheckpointFormatError(ValueError):
    """A note that is not a well-formed checkpoint."""


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode("ascii")


def unb64(text: str, *, length: int | None = None) -> bytes:
    """Decode standard base64, strictly (canonical form only); ValueError if bad or wrong length."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError("not valid base64") from exc
    if length is not None and len(raw) != length:
        raise ValueError(f"expected {length} bytes, got {len(raw)}")
    if b64(raw) != text:  # unused bits set ("AB=="): not the one text of these bytes
        raise ValueError("not canonical base64")
    return raw


def encode(head: TreeHead) -> bytes:
    """The note text of ``head``: the bytes that are signed."""
    if "\n" in head.origin or not head.origin:
        raise CheckpointFormatError("the origin must be one non-empty line")
    if "\n" in head.time or head.size < 0:
        raise CheckpointFormatError("the time must be one line and the size not negative")
    if len(head.root) != HASH_SIZE or len(head.chain) != HASH_SIZE:
        raise CheckpointFormatError(f"the root and the chain hash are {HASH_SIZE} bytes each")
    return (
        f"{head.origin}\n{head.size}\n{b64(head.root)}\nchain {b64(head.chain)}\ntime {head.time}\n"
    ).encode()


def decode(body: bytes) -> TreeHead:
    """Parse a note; CheckpointFormatError if it is not exactly what :func:`encode` writes."""
    try:
        lines = body.decode("utf-8").split("\n")
        origin, size, root, chain, time, tail = lines
        if tail or not chain.startswith("chain ") or not time.startswith("time "):
            raise ValueError("unexpected lines")
        head = TreeHead(
            origin=origin,
            size=int(size),
            root=unb64(root, length=HASH_SIZE),
            chain=unb64(chain.removeprefix("chain "), length=HASH_SIZE),
            time=time.removeprefix("time "),
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise CheckpointFormatError(f"not a checkpoint note: {exc}") from exc
    if head.size < 0 or encode(head) != body:
        raise CheckpointFormatError("not a checkpoint note in canonical form")
    return head


def raw_public_key(key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: 16 hex digits of SHA-256 of its raw bytes."""
    return hashlib.sha256(raw_public_key(key)).hexdigest()[:16]


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 raw bytes."""
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(head: TreeHead, key: Ed25519PrivateKey) -> tuple[bytes, bytes]:
    """(note, signature) for ``head``."""
    body = encode(head)
    return body, key.sign(body)


def signature_valid(body: bytes, signature: bytes, public_key: Ed25519PublicKey) -> bool:
    """True if ``signature`` is ``public_key``'s Ed25519 signature of ``body``."""
    try:
        public_key.verify(signature, body)
    except InvalidSignature:
        return False
    return True
