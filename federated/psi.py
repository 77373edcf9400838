"""Private set intersection of blinded identifiers: Diffie-Hellman PSI over X25519.

Each party first blinds its customer ids with the agreement's HMAC key
(:func:`federated.manifest.blind_id`); then, so that neither the coordinator nor the other
party learns the ids that are *not* shared, each hashes its blinded ids to Curve25519
u-coordinates and raises them to a secret scalar of its own (X25519). Scalar multiplication
commutes, so ``a·(b·H(x)) = b·(a·H(x))``: after each party has raised the other's list to
its own scalar, equal double-blinded values mark the same customer, and nothing else
matches.

This is the classic Meadows / Huberman-Franklin-Hogg DH-PSI, secure against semi-honest
parties under the decisional Diffie-Hellman assumption with the hash modelled as a random
oracle (points may land on the curve or its twist; Curve25519 is twist-secure). It is not
an OPRF-based or malicious-secure PSI, and both parties (and the coordinator, who relays)
learn the intersection's size. Everyone involved learns which of *their own* rows are in
it — which is what alignment needs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

__all__ = ["PsiKey", "align", "hash_to_point"]

_DOMAIN = b"federated-psi/1\0"


def hash_to_point(blinded_id: str) -> bytes:
    """A 32-byte u-coordinate for a blinded id (SHA-256, domain-separated)."""
    return hashlib.sha256(_DOMAIN + blinded_id.encode("ascii")).digest()


class PsiKey:
    """One party's secret PSI scalar for one run."""

    def __init__(self, private: X25519PrivateKey | None = None) -> None:
        self._private = private or X25519PrivateKey.generate()

    @classmethod
    def from_bytes(cls, raw: bytes) -> PsiKey:
        """A key saved with :meth:`to_bytes` (kept in the ClientApp's run state)."""
        return cls(X25519PrivateKey.from_private_bytes(raw))

    def to_bytes(self) -> bytes:
        """The raw 32-byte scalar."""
        return self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def raise_points(self, points: Sequence[bytes]) -> list[bytes]:
        """Each point multiplied by this party's scalar, in order."""
        return [self._private.exchange(X25519PublicKey.from_public_bytes(p)) for p in points]

    def blind(self, blinded_ids: Sequence[str]) -> list[bytes]:
        """This party's ids, hashed to points and raised to its scalar (the first pass)."""
        return self.raise_points([hash_to_point(b) for b in blinded_ids])


def align(mine: Sequence[bytes], theirs: Sequence[bytes]) -> tuple[list[int], list[int]]:
    """Positions of the shared values in each list, in one agreed order.

    ``mine`` and ``theirs`` are both parties' double-blinded values (each in its owner's
    row order). The shared ones are ordered by their bytes; the result gives, for that
    order, the row positions in ``mine`` and in ``theirs``.
    """
    where_mine = {value: i for i, value in enumerate(mine)}
    where_theirs = {value: i for i, value in enumerate(theirs)}
    shared = sorted(where_mine.keys() & where_theirs.keys())
    return [where_mine[v] for v in shared], [where_theirs[v] for v in shared]
