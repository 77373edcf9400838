"""Key material: where it lives, generating development keys, and the KEK keyring.

Each key has its own file, so that encryption, blind-index, link-signing, audit-signing and
consent-receipt-signing keys are separate and can be held by different systems in
production; two keys configured to one file are refused. In development, missing files are
generated at start-up with mode 0600 in ``<instance>/keys`` (0700), which ``.gitignore``
excludes. Production refuses to generate keys: it expects them provisioned.

Key-encryption keys (KEKs) wrap per-subject data keys and the few other secrets the
platform stores (operators' TOTP secrets, webhook signing secrets). Whatever holds them
implements :class:`KeyEncryptionKeys`: the keyring file (:class:`FileKeys`, which notices
when the file is replaced), the same JSON in an environment variable, or a KMS adapter
named by a setting (``module:factory``; ``docs/keys.md`` states the contract). Code that
wraps and unwraps holds a :class:`Keyring`, one face over any of them.
``GOVERNANCE_KEK_PROVIDER`` chooses (:func:`load_keyring`).

Key values never appear in logs, errors or audit entries: errors name the file or the
variable, not its content.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import importlib
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app

if TYPE_CHECKING:
    from governance.settings import Settings


class KeyError_(RuntimeError):
    """A key file is missing, unreadable or malformed."""


#: The consent-receipt signing key's file name in the key folder.
RECEIPT_SIGNING_FILE = "consent-receipt-signing.pem"
#: The key that signs federated cohort manifests (federated.governance).
MANIFEST_SIGNING_FILE = "cohort-manifest-signing.pem"


@dataclass(frozen=True)
class KeyPaths:
    """Where each key lives; no two keys may share a file."""

    secret_key: Path
    kek: Path
    blind_index: Path
    portal_link: Path
    audit_signing: Path
    receipt_signing: Path
    manifest_signing: Path | None = None

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
            *([self.manifest_signing] if self.manifest_signing is not None else []),
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
        **({paths.manifest_signing: _new_ed25519_pem} if paths.manifest_signing else {}),
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


# -- key-encryption keys ---------------------------------------------------------------------

#: A KEK id: letters, digits, ``.``, ``_``, ``-``; at most 64; never a ``:`` (the separator
#: of the wrapped form ``<kek id>:<text>``).
KEK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
KEK_BYTES = 32
_NONCE_BYTES = 12

log = logging.getLogger(__name__)


class KeyEncryptionKeys(Protocol):
    """What wraps and unwraps secrets under key-encryption keys (``docs/keys.md``).

    ``wrap`` seals under the active KEK and returns ``"<kek id>:<text>"``; ``unwrap``
    opens what any KEK in :meth:`key_ids` sealed, and only with the same ``aad``. A
    wrong ``aad``, key or tampering raises ``cryptography.exceptions.InvalidTag``; an
    unknown or malformed key id raises :class:`KeyError_`. Nothing here logs or reports
    key material.
    """

    @property
    def active_id(self) -> str:
        """The id of the KEK that :meth:`wrap` uses."""
        ...

    def key_ids(self) -> list[str]:
        """Every KEK id that :meth:`unwrap` accepts (the active one included)."""
        ...

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        """Seal ``plaintext`` under the active KEK, bound to ``aad``."""
        ...

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        """Open what :meth:`wrap` sealed, with the same ``aad``."""
        ...


class ManagedKeyEncryptionKeys(KeyEncryptionKeys, Protocol):
    """KEKs this process may change: add and activate a new one, remove an old one."""

    def rotate(self) -> str:
        """Create a new 256-bit KEK, make it active (old ones stay); return its id."""
        ...

    def retire(self, kek_id: str) -> None:
        """Remove KEK ``kek_id``, which is not the active one; the caller checked usage."""
        ...


def is_managed(keys: KeyEncryptionKeys) -> bool:
    """Whether ``keys`` can rotate and retire KEKs itself (the keyring file can)."""
    return callable(getattr(keys, "rotate", None)) and callable(getattr(keys, "retire", None))


def kek_id_of(wrapped: str) -> str:
    """The KEK id a wrapped secret names (before the first ``:``)."""
    kid, sep, _ = wrapped.partition(":")
    if not sep or not KEK_ID.fullmatch(kid):
        raise KeyError_("a wrapped secret does not start with a valid key-encryption key id")
    return kid


def parse_keyring(data: bytes | str, source: str) -> tuple[str, dict[str, bytes]]:
    """Parse keyring JSON ``{"active": id, "keys": {id: base64 key}}``.

    Refuses malformed JSON, a key id given twice, an id that is not a valid KEK id, an
    active id that is not among the keys, a key that is not 256 bits, and one key under
    two ids. Messages name ``source`` (a file or a variable), never a key.
    """

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        names = [name for name, _ in pairs]
        if len(set(names)) != len(names):
            raise KeyError_(f"{source} names a key id twice")
        return dict(pairs)

    try:
        doc = json.loads(data, object_pairs_hook=no_duplicates)
        active, encoded = doc["active"], doc["keys"]
        if not isinstance(active, str) or not isinstance(encoded, dict) or not encoded:
            raise TypeError
        if not all(isinstance(k, str) for k in encoded.values()):
            raise TypeError
    except (ValueError, LookupError, TypeError):
        raise KeyError_(f"{source} is malformed (expected {{active, keys}})") from None
    if not all(KEK_ID.fullmatch(kid) for kid in encoded):
        raise KeyError_(
            f"{source} holds a key id that is not valid (letters, digits, '.', '_', '-'; "
            "at most 64; no ':')"
        )
    if active not in encoded:
        raise KeyError_(f"{source}: the active key id is not among its keys")
    try:
        keys = {kid: base64.b64decode(k, validate=True) for kid, k in encoded.items()}
    except ValueError:
        raise KeyError_(f"{source} holds a key that is not base64") from None
    if any(len(k) != KEK_BYTES for k in keys.values()):
        raise KeyError_(f"{source} holds a key that is not 256 bits")
    if len(set(keys.values())) != len(keys):
        raise KeyError_(f"{source} holds the same key under two ids")
    return active, keys


def keyring_document(active: str, keys: Mapping[str, bytes]) -> bytes:
    """The keyring JSON for ``active`` and ``keys`` (what :func:`parse_keyring` reads)."""
    encoded = {kid: base64.b64encode(key).decode() for kid, key in keys.items()}
    return json.dumps({"active": active, "keys": encoded}, indent=2).encode() + b"\n"


class LocalKeys:
    """KEKs held in this process (parsed from a file or a variable): AES-256-GCM wrapping.

    The wrapped form is ``<kek id>:base64(nonce || ciphertext || tag)``.
    """

    __slots__ = ("_active", "_aeads")

    def __init__(self, active: str, keys: Mapping[str, bytes], source: str = "keyring") -> None:
        if not all(KEK_ID.fullmatch(kid) for kid in keys):
            raise KeyError_(f"{source} holds a key id that is not valid")
        if active not in keys:
            raise KeyError_(f"{source}: the active key id is not among its keys")
        if any(len(k) != KEK_BYTES for k in keys.values()):
            raise KeyError_(f"{source} holds a key that is not 256 bits")
        self._active = active
        self._aeads = {kid: AESGCM(key) for kid, key in keys.items()}

    @property
    def active_id(self) -> str:
        """The id of the KEK that wraps."""
        return self._active

    def key_ids(self) -> list[str]:
        """Every KEK id, in keyring order."""
        return list(self._aeads)

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt ``plaintext`` under the active KEK, bound to ``aad``."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aeads[self._active].encrypt(nonce, plaintext, aad)
        return f"{self._active}:{base64.b64encode(nonce + sealed).decode()}"

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        """Decrypt what :meth:`wrap` produced; raises on a wrong key, AAD or tampering."""
        kid = kek_id_of(wrapped)
        aead = self._aeads.get(kid)
        if aead is None:
            raise KeyError_(f"unknown key-encryption key id {kid!r}")
        raw = base64.b64decode(wrapped[len(kid) + 1 :], validate=True)
        return aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], aad)

    def knows(self, kek_id: str) -> bool:
        """Whether ``kek_id`` is one of these keys."""
        return kek_id in self._aeads


def _file_signature(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns, st.st_size


class FileKeys:
    """The keyring file (``GOVERNANCE_KEK_FILE``), re-read when it is replaced.

    Another process (``governance keys rotate-kek``) replaces the file atomically. This
    one notices: before wrapping it looks at the file's inode, time and size at most once
    per :attr:`REFRESH_SECONDS`, and on an unknown key id it looks at once; a new file is
    parsed and used from then on. A replacement that does not parse is logged (naming the
    file) and the keys loaded before stay in use.
    """

    REFRESH_SECONDS = 1.0

    def __init__(self, path: Path) -> None:
        self.path = path
        self._signature, self._keys = self._read()
        self._checked = time.monotonic()
        self._refused: tuple[int, int, int] | None = None

    def _read(self) -> tuple[tuple[int, int, int], LocalKeys]:
        source = f"keyring file {self.path}"
        try:
            signature = _file_signature(self.path)  # before reading: a race only re-reads
        except OSError as exc:
            raise KeyError_(f"{source} cannot be read ({exc.strerror})") from None
        active, keys = parse_keyring(read_key_file(self.path), source)
        return signature, LocalKeys(active, keys, source)

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the file if it was replaced (checked at most once a second unless forced)."""
        now = time.monotonic()
        if not force and now - self._checked < self.REFRESH_SECONDS:
            return
        self._checked = now
        try:
            signature = _file_signature(self.path)
        except OSError:
            signature = None
        if signature == self._signature or (signature is not None and signature == self._refused):
            return
        try:
            self._signature, self._keys = self._read()
        except KeyError_ as exc:
            self._refused = signature
            log.warning("%s; the keys loaded before stay in use", exc)
            return
        log.info("keyring file %s re-read; active key %s", self.path, self._keys.active_id)

    @property
    def active_id(self) -> str:
        """The id of the KEK that wraps (as the file says now)."""
        self.refresh()
        return self._keys.active_id

    def key_ids(self) -> list[str]:
        """Every KEK id in the file."""
        self.refresh()
        return self._keys.key_ids()

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt under the active KEK (re-reading a replaced file first)."""
        self.refresh()
        return self._keys.wrap(plaintext, aad)

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        """Decrypt; a key id not yet known makes the file be re-read at once."""
        keys = self._keys
        if not keys.knows(kek_id_of(wrapped)):
            self.refresh(force=True)
            keys = self._keys
        return keys.unwrap(wrapped, aad)

    def rotate(self) -> str:
        """Add a new KEK to the file and make it active; return its id."""
        _previous, new = rotate_keyring_file(self.path)
        self.refresh(force=True)
        return new

    def retire(self, kek_id: str) -> None:
        """Remove ``kek_id`` (never the active one) from the file."""
        retire_from_keyring_file(self.path, kek_id)
        self.refresh(force=True)


class Keyring:
    """The KEK keyring that code wrapping secrets holds: one face over any implementation.

    ``Keyring(active, keys)`` holds keys in memory (tests, tools); :meth:`from_file`,
    :meth:`from_env` and :meth:`over` (a KMS adapter) give the others. ``backend`` is the
    :class:`KeyEncryptionKeys` behind it.
    """

    __slots__ = ("backend",)

    backend: KeyEncryptionKeys

    def __init__(self, active: str, keys: Mapping[str, bytes]) -> None:
        self.backend = LocalKeys(active, keys)

    @classmethod
    def over(cls, backend: KeyEncryptionKeys) -> Keyring:
        """A keyring whose work ``backend`` does."""
        if isinstance(backend, Keyring):
            return backend
        ring = cls.__new__(cls)
        ring.backend = backend
        return ring

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        """The keyring file ``{"active": id, "keys": {id: base64 key}}`` (mode 0600)."""
        return cls.over(FileKeys(path))

    @classmethod
    def from_env(cls, variable: str, environ: Mapping[str, str] | None = None) -> Keyring:
        """The same JSON as the keyring file, from environment variable ``variable``."""
        source = f"keyring in environment variable {variable}"
        text = (os.environ if environ is None else environ).get(variable, "").strip()
        if not text:
            raise KeyError_(f"{source} is not set")
        active, keys = parse_keyring(text, source)
        return cls.over(LocalKeys(active, keys, source))

    @property
    def active(self) -> str:
        """The id of the KEK that wraps (same as :attr:`active_id`)."""
        return self.backend.active_id

    @property
    def active_id(self) -> str:
        """The id of the KEK that wraps."""
        return self.backend.active_id

    def key_ids(self) -> list[str]:
        """Every KEK id that unwraps."""
        return self.backend.key_ids()

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt ``plaintext`` under the active KEK, bound to ``aad``."""
        return self.backend.wrap(plaintext, aad)

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        """Decrypt what :meth:`wrap` produced; raises on a wrong key, AAD or tampering."""
        return self.backend.unwrap(wrapped, aad)

    @property
    def managed(self) -> bool:
        """Whether this process can rotate and retire the KEKs (see :func:`is_managed`)."""
        return is_managed(self.backend)


# -- choosing the implementation -------------------------------------------------------------


def load_adapter(spec: str, settings: Settings) -> KeyEncryptionKeys:
    """Import ``module:factory`` and return ``factory(settings)``, checked to fit the Protocol.

    Errors name the setting and ``spec`` (a dotted name), never anything the adapter holds.
    """
    where = f"GOVERNANCE_KEK_ADAPTER {spec!r}"
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise KeyError_(f"{where} is not 'package.module:factory'")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise KeyError_(f"{where} cannot be imported ({type(exc).__name__})") from None
    keys = factory(settings)
    missing = [
        name for name in ("active_id", "key_ids", "wrap", "unwrap") if not hasattr(keys, name)
    ]
    if missing:
        raise KeyError_(f"{where} returned an object without {', '.join(missing)}")
    ids = keys.key_ids()
    if not all(isinstance(kid, str) and KEK_ID.fullmatch(kid) for kid in ids):
        raise KeyError_(f"{where} reports a key id that is not valid")
    if keys.active_id not in ids:
        raise KeyError_(f"{where}: the active key id is not among its key ids")
    return cast(KeyEncryptionKeys, keys)


def load_keyring(settings: Settings, paths: KeyPaths) -> Keyring:
    """The keyring ``GOVERNANCE_KEK_PROVIDER`` names: file, env or kms (an adapter)."""
    if settings.kek_provider == "env":
        return Keyring.from_env(settings.kek_env_var)
    if settings.kek_provider == "kms":
        if not settings.kek_adapter:
            raise KeyError_("GOVERNANCE_KEK_PROVIDER=kms needs GOVERNANCE_KEK_ADAPTER")
        return Keyring.over(load_adapter(settings.kek_adapter, settings))
    return Keyring.from_file(paths.kek)


# -- changing the keyring file ---------------------------------------------------------------


def write_private_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (mode 0600) at once: a reader sees old or new, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise changes to ``path`` between processes (a ``.<name>.lock`` beside it)."""
    lock_path = path.with_name(f".{path.name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def new_kek_id(existing: Iterable[str]) -> str:
    """A fresh KEK id: ``kek-<UTC date>-<8 hex>``, not among ``existing``."""
    taken = set(existing)
    while True:
        kid = f"kek-{dt.datetime.now(dt.UTC):%Y%m%d}-{secrets.token_hex(4)}"
        if kid not in taken:
            return kid


def rotate_keyring_file(path: Path) -> tuple[str, str]:
    """Add a new 256-bit KEK to the keyring file and make it active.

    The old keys stay, for unwrapping. The file is replaced atomically (mode 0600) under
    a lock, so two rotations never lose each other's key. Returns (previous, new) ids.
    """
    source = f"keyring file {path}"
    with _file_lock(path):
        active, keys = parse_keyring(read_key_file(path), source)
        new = new_kek_id(keys)
        keys[new] = AESGCM.generate_key(bit_length=256)
        write_private_atomic(path, keyring_document(new, keys))
    return active, new


def retire_from_keyring_file(path: Path, kek_id: str) -> None:
    """Remove ``kek_id`` from the keyring file; refuses the active key and unknown ids.

    Whether anything is still wrapped by it is the caller's check
    (:func:`governance.profiles.rotation.kek_usage`).
    """
    source = f"keyring file {path}"
    with _file_lock(path):
        active, keys = parse_keyring(read_key_file(path), source)
        if kek_id == active:
            raise KeyError_(f"{kek_id!r} is the active key of {source}; rotate first")
        if kek_id not in keys:
            raise KeyError_(f"{source} has no key {kek_id!r}")
        del keys[kek_id]
        write_private_atomic(path, keyring_document(active, keys))


def portal_link_key() -> bytes:
    """The current app's key for signing portal links."""
    return read_hex_key(current_app.config["KEY_PATHS"].portal_link)


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Load an Ed25519 private key (audit checkpoints, consent receipts) from a PEM file."""
    key = serialization.load_pem_private_key(read_key_file(path), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyError_(f"key file {path} is not an Ed25519 private key")
    return key
