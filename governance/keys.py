"""Key material: where it lives, generating development keys, and the KEK keyring.

Each key has its own file, so that encryption, blind-index, link-signing, audit-signing and
consent-receipt-signing keys are separate and can be held by different systems in
production; two keys configured to one file are refused. In development, missing files are
generated at start-up with mode 0600 in ``<instance>/keys`` (0700), which ``.gitignore``
excludes. Production refuses to generate keys: it expects them provisioned.

Key values never appear in logs, errors or audit entries: errors name the file, not its
content.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app


class KeyError_(RuntimeError):
    """A key file is missing, unreadable or malformed."""


#: The consent-receipt signing key's file name in the key folder.
RECEIPT_SIGNING_FILE = "consent-receipt-signing.pem"


@dataclass(frozen=True)
class KeyPaths:
    """Where each key lives; no two keys may share a file."""

    secret_key: Path
    kek: Path
    blind_index: Path
    portal_link: Path
    audit_signing: Path
    receipt_signing: Path

    def __post_init__(self) -> None:
        seen: set[Path] = set()
        for key_file in self.all():
            if key_file in seen:
                raise KeyError_(f"two keys are configured to use the same file {key_file}")
            seen.add(key_file)

    def all(self) -> list[Path]:
        """Every key file."""
        return [
            self.secret_key,
            self.kek,
            self.blind_index,
            self.portal_link,
            self.audit_signing,
            self.receipt_signing,
        ]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _new_kek_file() -> bytes:
    key = base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()
    return json.dumps({"active": "kek-1", "keys": {"kek-1": key}}, indent=2).encode()


def _new_ed25519_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_dev_keys(paths: KeyPaths) -> list[Path]:
    """Create every missing key file (mode 0600); return the files created."""
    makers = {
        paths.secret_key: lambda: secrets.token_hex(32).encode(),
        paths.kek: _new_kek_file,
        paths.blind_index: lambda: secrets.token_hex(32).encode(),
        paths.portal_link: lambda: secrets.token_hex(32).encode(),
        paths.audit_signing: _new_ed25519_pem,
        paths.receipt_signing: _new_ed25519_pem,
    }
    created = []
    for path, make in makers.items():
        if not path.exists():
            _write_private(path, make())
            created.append(path)
    return created


def read_key_file(path: Path) -> bytes:
    """Read a key file, refusing a missing file or one others can read."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes().strip()
    except OSError as exc:
        raise KeyError_(f"key file {path} cannot be read ({exc.strerror})") from None
    if mode & 0o077:
        raise KeyError_(f"key file {path} is readable by others; chmod 600 it")
    if not data:
        raise KeyError_(f"key file {path} is empty")
    return data


def read_hex_key(path: Path) -> bytes:
    """Read a hex-encoded symmetric key of at least 32 bytes."""
    try:
        key = bytes.fromhex(read_key_file(path).decode())
    except ValueError:
        raise KeyError_(f"key file {path} is not hex") from None
    if len(key) < 32:
        raise KeyError_(f"key file {path} holds fewer than 32 bytes")
    return key


class Keyring:
    """Key-encryption keys by id; the active one wraps, any known one unwraps.

    This is the development/file implementation of the KEK interface; a KMS adapter
    offers the same two methods.
    """

    def __init__(self, active: str, keys: dict[str, bytes]) -> None:
        if active not in keys:
            raise KeyError_("the keyring's active key id is not among its keys")
        self.active = active
        self._keys = {kid: AESGCM(k) for kid, k in keys.items()}

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """Load a keyring file: ``{"active": id, "keys": {id: base64 key}}``."""
        try:
            doc = json.loads(read_key_file(path))
            keys = {kid: base64.b64decode(k, validate=True) for kid, k in doc["keys"].items()}
            active = doc["active"]
        except (ValueError, KeyError, TypeError):
            raise KeyError_(f"keyring file {path} is malformed") from None
        if any(len(k) != 32 for k in keys.values()):
            raise KeyError_(f"keyring file {path} holds a key that is not 256 bits")
        return cls(active, keys)

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt ``plaintext`` under the active KEK, bound to ``aad``."""
        nonce = secrets.token_bytes(12)
        sealed = self._keys[self.active].encrypt(nonce, plaintext, aad)
        return f"{self.active}:{base64.b64encode(nonce + sealed).decode()}"

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        """Decrypt what :meth:`wrap` produced; raises on a wrong key, AAD or tampering."""
        kid, _, blob = wrapped.partition(":")
        if kid not in self._keys:
            raise KeyError_(f"unknown key-encryption key id {kid!r}")
        raw = base64.b64decode(blob)
        return self._keys[kid].decrypt(raw[:12], raw[12:], aad)


def portal_link_key() -> bytes:
    """The current app's key for signing portal links."""
    return read_hex_key(current_app.config["KEY_PATHS"].portal_link)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key (audit checkpoints, consent receipts) from a PEM file."""
    key = serialization.load_pem_private_key(read_key_file(path), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"key file {path} is not an Ed25519 private key")
    return key
