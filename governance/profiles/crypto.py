"""Envelope encryption of profile values and keyed blind indexes.

Each subject has its own random 256-bit data key. The data key is stored only wrapped by
the KEK keyring, bound to the subject and key version (``subject_key_aad``). Each field
value is encoded as canonical JSON and sealed with AES-256-GCM under the data key, with a
fresh 96-bit nonce stored beside the ciphertext and associated data naming the subject,
the field and the key version: a ciphertext copied to another subject or field, or read
with another key version, fails to decrypt.

Blind indexes are HMAC-SHA256 digests, under a key of their own, of ``field``, a NUL byte
and the normalised value; they allow exact lookups of identifiers (mobile, email, WeCom
union id) without decrypting anything.

For bulk work, :class:`ProfileCrypto` parses the keys once and a :class:`SubjectCipher`
keeps one AES-GCM object per subject, so encrypting a field is one AEAD call.

Errors name the subject id and the field, never a value or a key.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app

from governance.keys import KeyEncryptionKeys, KeyError_, Keyring, load_keyring, read_hex_key

__all__ = [
    "CIPHERTEXT_FORMAT",
    "DecryptionError",
    "ProfileCrypto",
    "RevealRefused",
    "SubjectCipher",
    "canonical_json",
    "decrypt_values",
    "normalise_identifier",
    "profile_crypto",
    "reset_profile_crypto",
    "revealing",
    "subject_key_aad",
    "value_aad",
]

# First byte of every stored ciphertext: AES-256-GCM, 96-bit nonce, then ciphertext+tag.
# A future algorithm gets a new byte, so old rows stay readable during a migration.
CIPHERTEXT_FORMAT = 1
_FORMAT_BYTE = bytes([CIPHERTEXT_FORMAT])
_NONCE_BYTES = 12
_TAG_BYTES = 16

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
)


class RevealRefused(RuntimeError):
    """A decryption attempted outside the guarded read (a second door): refused."""


_REVEALING: contextvars.ContextVar[bool] = contextvars.ContextVar("revealing", default=False)


@contextlib.contextmanager
def revealing() -> Iterator[None]:
    """The one context in which profile values may be decrypted.

    Entered by :mod:`governance.profiles.guarded` only (a test checks that no other module
    of the platform enters it); tests of the cipher itself enter it too. Never yield a
    value out of it from a generator: the context would leak to the caller.
    """
    token = _REVEALING.set(True)
    try:
        yield
    finally:
        _REVEALING.reset(token)


class DecryptionError(Exception):
    """A ciphertext or wrapped key does not open: wrong key, moved, or tampered with.

    The message names the subject id and field; it never holds a value or key material.
    """

    def __init__(self, subject_id: str, field: str | None = None, reason: str = "") -> None:
        self.subject_id = subject_id
        self.field = field
        if field is None:
            what = f"the data key of subject {subject_id}"
        else:
            what = f"field {field!r} of subject {subject_id}"
        super().__init__(f"cannot decrypt {what}" + (f": {reason}" if reason else ""))


def canonical_json(value: Any) -> bytes:
    """Encode ``value`` as canonical JSON (sorted keys, no spaces, UTF-8, no NaN)."""
    return _ENCODER.encode(value).encode()


def subject_key_aad(subject_id: str, key_version: int) -> bytes:
    """Associated data that binds a wrapped data key to its subject and key version."""
    return b"subject-key:" + subject_id.encode() + b"\x00" + str(key_version).encode()


def value_aad(subject_id: str, field: str, key_version: int) -> bytes:
    """Associated data that binds a field ciphertext to its subject, field and key version."""
    return f"profile-value:{subject_id}\x00{field}\x00{key_version}".encode()


# -- blind-index normalisation -------------------------------------------------------------

_MOBILE_NOISE = re.compile(r"[\s\-().]")


def _normalise_mobile(value: str) -> str:
    digits = _MOBILE_NOISE.sub("", value)
    for prefix in ("+86", "0086"):
        if digits.startswith(prefix):
            return digits[len(prefix) :]
    return digits


def _normalise_email(value: str) -> str:
    return value.strip().lower()


def _normalise_default(value: str) -> str:
    return value.strip()


_NORMALISERS: dict[str, Callable[[str], str]] = {
    "mobile": _normalise_mobile,
    "minor_guardian_mobile": _normalise_mobile,
    "email": _normalise_email,
    "wecom_unionid": _normalise_default,
}


def normalise_identifier(field: str, value: str) -> str:
    """Normalise an identifier so that harmless spelling variants share one blind index.

    mobile: spaces, dashes, dots, brackets and a ``+86``/``0086`` prefix removed; email:
    surrounding spaces removed and lower-cased; anything else (WeCom union id): stripped.
    """
    return _NORMALISERS.get(field, _normalise_default)(value)


# -- per-subject cipher --------------------------------------------------------------------


class SubjectCipher:
    """One subject's unwrapped data key, ready to seal and open that subject's fields."""

    __slots__ = ("_aead", "key_version", "subject_id")

    def __init__(self, subject_id: str, key_version: int, data_key: bytes) -> None:
        self.subject_id = subject_id
        self.key_version = key_version
        self._aead = AESGCM(data_key)

    def encrypt(self, field: str, value: Any) -> bytes:
        """Seal ``value`` (canonical JSON) for ``field``: format byte, nonce, ciphertext."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, canonical_json(value), value_aad(self.subject_id, field, self.key_version)
        )
        return _FORMAT_BYTE + nonce + sealed

    def decrypt(self, field: str, blob: bytes) -> Any:
        """Open what :meth:`encrypt` sealed for this subject and ``field``.

        Refused (:class:`RevealRefused`) outside :func:`revealing`: only the guarded read
        enters it, so no other path can decrypt a profile value.
        """
        if not _REVEALING.get():
            raise RevealRefused(
                "profile values are decrypted only inside the guarded read "
                "(governance.profiles.guarded)"
            )
        if len(blob) < 1 + _NONCE_BYTES + _TAG_BYTES or blob[0] != CIPHERTEXT_FORMAT:
            raise DecryptionError(self.subject_id, field, "unknown ciphertext format")
        nonce, sealed = blob[1 : 1 + _NONCE_BYTES], blob[1 + _NONCE_BYTES :]
        try:
            plain = self._aead.decrypt(
                nonce, sealed, value_aad(self.subject_id, field, self.key_version)
            )
        except InvalidTag:
            raise DecryptionError(
                self.subject_id, field, "wrong key, moved ciphertext or tampering"
            ) from None
        return json.loads(plain)


def decrypt_values(
    cipher: SubjectCipher, ciphertexts: Iterable[tuple[str, bytes]]
) -> dict[str, Any]:
    """Open ``(field, ciphertext)`` pairs of one subject.

    A primitive for the guarded read and for tests; it performs no policy check, so
    nothing outside the guarded read may hand its result to a caller.
    """
    return {field: cipher.decrypt(field, blob) for field, blob in ciphertexts}


# -- keys ------------------------------------------------------------------------------------


class ProfileCrypto:
    """The KEK keyring and blind-index key; makes and opens subject ciphers.

    ``keyring`` is any :class:`~governance.keys.KeyEncryptionKeys` (file, environment or a
    KMS adapter); it is held as a :class:`~governance.keys.Keyring`.
    """

    def __init__(self, keyring: Keyring | KeyEncryptionKeys, blind_index_key: bytes) -> None:
        if len(blind_index_key) < 32:
            raise KeyError_("the blind-index key holds fewer than 32 bytes")
        self.keyring = Keyring.over(keyring)
        self._hmac = hmac.new(blind_index_key, digestmod=hashlib.sha256)

    @classmethod
    def from_files(cls, kek_file: Path, blind_index_file: Path) -> ProfileCrypto:
        """Read a keyring file and a blind-index key file."""
        return cls(Keyring.from_file(kek_file), read_hex_key(blind_index_file))

    @classmethod
    def from_app(cls, app: Flask) -> ProfileCrypto:
        """The keyring ``app``'s settings choose (file, env, kms) and its blind-index key."""
        paths = app.config["KEY_PATHS"]
        settings = app.extensions.get("governance.settings")
        if settings is None:  # an app not built by create_app: the keyring file
            return cls.from_files(paths.kek, paths.blind_index)
        return cls(load_keyring(settings, paths), read_hex_key(paths.blind_index))

    def new_subject_key(self, subject_id: str, key_version: int = 1) -> tuple[SubjectCipher, str]:
        """Generate a data key for a subject; return its cipher and the wrapped key."""
        data_key = AESGCM.generate_key(bit_length=256)
        wrapped = self.keyring.wrap(data_key, subject_key_aad(subject_id, key_version))
        return SubjectCipher(subject_id, key_version, data_key), wrapped

    def open_subject_key(self, subject_id: str, key_version: int, wrapped: str) -> SubjectCipher:
        """Unwrap a subject's data key; raise :class:`DecryptionError` if it does not open."""
        try:
            data_key = self.keyring.unwrap(wrapped, subject_key_aad(subject_id, key_version))
        except InvalidTag:
            raise DecryptionError(subject_id, None, "wrong key-encryption key or AAD") from None
        except (KeyError_, ValueError) as exc:
            # KeyError_ names only a key id; ValueError comes from malformed base64.
            reason = str(exc) if isinstance(exc, KeyError_) else "malformed wrapped key"
            raise DecryptionError(subject_id, None, reason) from None
        return SubjectCipher(subject_id, key_version, data_key)

    def blind_index(self, field: str, value: str) -> bytes:
        """HMAC-SHA256 (32 bytes) of ``field``, NUL and the normalised ``value``."""
        mac = self._hmac.copy()
        mac.update(f"{field}\x00{normalise_identifier(field, value)}".encode())
        return mac.digest()


_EXTENSION = "governance.profile_crypto"


def profile_crypto(app: Flask | None = None) -> ProfileCrypto:
    """The app's :class:`ProfileCrypto`, read from the key files once and then reused."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    cached: ProfileCrypto | None = app.extensions.get(_EXTENSION)
    if cached is None:
        cached = ProfileCrypto.from_app(app)
        app.extensions[_EXTENSION] = cached
    return cached


def reset_profile_crypto(app: Flask) -> None:
    """Forget the cached keys (after a KEK rotation or in tests that swap key files).

    The next :func:`profile_crypto` reads the keys again. ``governance keys`` commands
    call this after every change to the keyring.
    """
    app.extensions.pop(_EXTENSION, None)
