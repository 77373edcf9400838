"""Rotating the receipt-signing key without orphaning the receipts it signed.

``governance consent rotate-receipt-key`` adds the current public key to the retired-keys
JWK Set beside the key file (:func:`consent.receipts.retired_keys_path`), then replaces
the key file with a new key. The JWKS endpoint publishes the current key and every retired
one, so every receipt ever issued keeps verifying. Running app processes read the key
once: restart them after a rotation (until then they go on signing with the old key,
whose public key stays published).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

import audit
from consent.cli import consent_group
from consent.receipts import ReceiptSigner, retired_keys, retired_keys_path
from governance.db import get_session
from governance.keys import load_signing_key


def _replace(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` at once (a reader sees the old file or the new one)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rotate(key_path: Path) -> tuple[str, str]:
    """Retire the key in ``key_path`` and put a new one there; returns (old kid, new kid).

    The retired set is written first: if the process stops between the two writes, the old
    key is both current and retired, which is harmless.
    """
    old = ReceiptSigner.from_key(load_signing_key(key_path))
    retired = [k for k in retired_keys(key_path) if k.get("kid") != old.kid]
    retired.append(old.public_jwk())
    body = json.dumps({"keys": retired}, indent=2, sort_keys=True).encode() + b"\n"
    _replace(retired_keys_path(key_path), body, 0o644)  # public keys only
    new_key = Ed25519PrivateKey.generate()
    pem = new_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _replace(key_path, pem, 0o600)
    return old.kid, ReceiptSigner.from_key(new_key).kid


@consent_group.command("rotate-receipt-key")
def rotate_receipt_key_command() -> None:
    """Replace the receipt-signing key; its public key stays in the JWKS."""
    key_path = current_app.config["KEY_PATHS"].receipt_signing
    try:
        old_kid, new_kid = rotate(key_path)
    except (OSError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    session = get_session()
    audit.record(
        session,
        action="consent.receipt_key.rotate",
        resource=f"receipt-key:{new_kid}",
        details={"retired_kid": old_kid, "kid": new_kid},
    )
    session.commit()
    click.echo(
        f"receipt-signing key rotated: {old_kid} retired (still published), {new_kid} signs "
        "from now on; restart the app's processes so they load it"
    )
