"""Check that one audit entry is in the signed log, step by step, for people to read.

:func:`verify_entry` does what an outside verifier does with the public API, on the
server: it recomputes the entry's leaf hash from its canonical bytes, checks the newest
signed checkpoint's Ed25519 signature with the published key and that its note names the
tree it claims, then checks the entry's RFC 9162 inclusion proof against the signed
root. When no checkpoint covers the entry yet, one is signed first (the caller commits).

The portal's "verify" button shows the result; the DPO console can show the same steps.
Anyone can repeat them offline with ``/api/v1/audit/entries/<seq>`` (canonical bytes),
``.../proof`` and ``/.well-known/governance-audit-key.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from sqlalchemy.orm import Session

import audit
from audit import merkle
from audit.checkpoint import CheckpointFormatError, b64, decode, signature_valid
from audit.log import (
    CheckpointInfo,
    create_checkpoint,
    entry_row,
    inclusion_proof,
    latest_checkpoint,
    row_bytes,
)
from governance.errors import ApiError

__all__ = ["Verification", "verify_entry"]


@dataclass(frozen=True)
class Verification:
    """The outcome of each step, and what was checked against."""

    seq: int
    leaf_ok: bool  # the stored leaf hash is SHA-256(0x00 || canonical bytes)
    signature_ok: bool  # the checkpoint is signed by a published key
    note_ok: bool  # the signed note names the checkpoint's tree size and root
    inclusion_ok: bool  # the proof leads from the leaf to the signed root
    tree_size: int
    root_hash: str  # base64
    leaf_hash: str  # base64
    proof_length: int
    key_id: str
    signed_at: str

    @property
    def ok(self) -> bool:
        """True when every step passed."""
        return self.leaf_ok and self.signature_ok and self.note_ok and self.inclusion_ok


def _covering(session: Session, seq: int) -> CheckpointInfo:
    """The newest signed checkpoint if it covers entry ``seq``; else a new one."""
    latest = latest_checkpoint(session)
    if latest is not None and latest.tree_size > seq:
        return latest
    signed, _ = create_checkpoint(session, audit.get_signer())
    return signed


def verify_entry(
    session: Session, app: Flask, seq: int, *, subject: str | None = None
) -> Verification:
    """Verify entry ``seq``; 404 if there is none or (``subject`` given) it is not theirs."""
    row = entry_row(session, seq) if 0 <= seq < 2**63 else None
    if row is None or (subject is not None and row["subject_id"] != subject):
        raise ApiError("not-found", f"No audit entry {seq}.")
    stored_leaf = bytes(row["leaf_hash"])
    leaf = merkle.leaf_hash(row_bytes(row))
    signed = _covering(session, seq)
    key = audit.public_keys(app).get(signed.key_id)
    signature_ok = key is not None and signature_valid(signed.body, signed.signature, key)
    try:
        head = decode(signed.body)
        note_ok = head.size == signed.tree_size and head.root == signed.root_hash
    except CheckpointFormatError:
        note_ok = False
    proof = inclusion_proof(session, seq, signed.tree_size)
    inclusion_ok = merkle.verify_inclusion(seq, signed.tree_size, leaf, proof, signed.root_hash)
    return Verification(
        seq=seq,
        leaf_ok=leaf == stored_leaf,
        signature_ok=signature_ok,
        note_ok=note_ok,
        inclusion_ok=inclusion_ok,
        tree_size=signed.tree_size,
        root_hash=b64(signed.root_hash),
        leaf_hash=b64(leaf),
        proof_length=len(proof),
        key_id=signed.key_id,
        signed_at=signed.signed_at,
    )
