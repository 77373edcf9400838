"""The KMS adapter hook: GOVERNANCE_KEK_ADAPTER names a factory whose object does the wrapping.

``FictionalKms`` stands in for a real KMS: keys live inside it and never leave it, it is
reached only through wrap/unwrap (in memory here; no network), and its wrapped form is its
own (``<key id>:v1.<hex>``), as a real adapter's would be.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask
from pydantic import ValidationError
from sqlalchemy import select

from consent.catalog.loader import load_catalog_file
from governance import create_app
from governance.db import get_engine, get_session
from governance.keys import KeyError_
from governance.models import metadata
from governance.profiles.crypto import ProfileCrypto, decrypt_values, revealing, subject_key_aad
from governance.profiles.models import ProfileValue, SubjectKey
from governance.profiles.store import create_subject
from governance.settings import Settings
from tests.conftest import DEFAULT_CATALOG


class FictionalKms:
    """An in-memory KMS double: AES-256-GCM keys by id that never leave the object."""

    def __init__(self) -> None:
        self._keys = {"fkms-1": AESGCM(os.urandom(32))}
        self._active = "fkms-1"
        self.aads: list[bytes] = []

    @property
    def active_id(self) -> str:
        return self._active

    def key_ids(self) -> list[str]:
        return list(self._keys)

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        self.aads.append(aad)
        nonce = os.urandom(12)
        sealed = self._keys[self._active].encrypt(nonce, plaintext, aad)
        return f"{self._active}:v1.{(nonce + sealed).hex()}"

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        kid, _, blob = wrapped.partition(":")
        if kid not in self._keys:
            raise KeyError_(f"unknown key-encryption key id {kid!r}")
        if not blob.startswith("v1."):
            raise ValueError("not a v1 wrapped key")
        raw = bytes.fromhex(blob[3:])
        return self._keys[kid].decrypt(raw[:12], raw[12:], aad)

    def rotate(self) -> str:
        new = f"fkms-{len(self._keys) + 1}"
        self._keys[new] = AESGCM(os.urandom(32))
        self._active = new
        return new

    def retire(self, kek_id: str) -> None:
        del self._keys[kek_id]


class ReadOnlyKms:
    """A KMS double whose keys are rotated in the KMS itself, not through the adapter."""

    def __init__(self, inner: FictionalKms) -> None:
        self._inner = inner

    @property
    def active_id(self) -> str:
        return self._inner.active_id

    def key_ids(self) -> list[str]:
        return self._inner.key_ids()

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        return self._inner.wrap(plaintext, aad)

    def unwrap(self, wrapped: str, aad: bytes) -> bytes:
        return self._inner.unwrap(wrapped, aad)


class NoUnwrap:
    """Not an adapter: it cannot unwrap."""

    active_id = "fkms-1"

    def key_ids(self) -> list[str]:
        return ["fkms-1"]

    def wrap(self, plaintext: bytes, aad: bytes) -> str:
        return "fkms-1:nothing"


#: The one "KMS" of a test: it outlives app restarts, as a real one would.
KMS: dict[str, FictionalKms] = {}


def fictional_kms(settings: Settings) -> FictionalKms:
    """The factory GOVERNANCE_KEK_ADAPTER names: called with the settings."""
    assert isinstance(settings, Settings)
    return KMS.setdefault("kms", FictionalKms())


def read_only_kms(settings: Settings) -> ReadOnlyKms:
    return ReadOnlyKms(fictional_kms(settings))


def no_unwrap(settings: Settings) -> NoUnwrap:
    return NoUnwrap()


def spec(factory: str) -> str:
    assert sys.modules[__name__].__dict__[factory] is globals()[factory]
    return f"{__name__}:{factory}"


@pytest.fixture(autouse=True)
def fresh_kms() -> Iterator[None]:
    KMS.clear()
    yield
    KMS.clear()


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "KEK_PROVIDER": "kms", "KEK_ADAPTER": spec("fictional_kms")}


@pytest.fixture
def customers(app: Flask) -> dict[str, dict[str, Any]]:
    """Two fictional customers, created through the adapter."""
    made = {}
    with app.app_context():
        db = get_session()
        load_catalog_file(db, DEFAULT_CATALOG)
        for n in (1, 2):
            values = {"mobile": f"1002000{n:04d}", "email": f"kms{n}@example.com"}
            made[create_subject(db, values)] = values
        db.commit()
    return made


def read_all(app: Flask) -> dict[str, dict[str, Any]]:
    crypto = ProfileCrypto.from_app(app)
    with app.app_context():
        db = get_session()
        out = {}
        for key in db.scalars(select(SubjectKey)):
            cipher = crypto.open_subject_key(key.subject_id, key.key_version, key.wrapped_key)
            rows = db.execute(
                select(ProfileValue.field, ProfileValue.ciphertext).where(
                    ProfileValue.subject_id == key.subject_id
                )
            )
            with revealing():  # the cipher's own test path, outside the guarded read
                out[key.subject_id] = decrypt_values(cipher, [(f, bytes(c)) for f, c in rows])
        return out


def wrapped(app: Flask) -> dict[str, str]:
    with app.app_context():
        rows = get_session().execute(select(SubjectKey.subject_id, SubjectKey.wrapped_key))
        return {s: w for s, w in rows}


def test_the_adapter_wraps_data_keys_with_their_associated_data(
    app: Flask, customers: dict[str, dict[str, Any]]
) -> None:
    assert all(w.startswith("fkms-1:v1.") for w in wrapped(app).values())
    assert {subject_key_aad(s, 1) for s in customers} <= set(KMS["kms"].aads)
    assert read_all(app) == customers


def test_rotate_rewrap_and_retire_go_through_the_adapter(
    app: Flask, customers: dict[str, dict[str, Any]]
) -> None:
    runner = app.test_cli_runner()

    rotated = runner.invoke(args=["keys", "rotate-kek"])
    rewrapped = runner.invoke(args=["keys", "rewrap"])
    retired = runner.invoke(args=["keys", "retire-kek", "fkms-1"])

    assert rotated.exit_code == 0 and rotated.stdout == "fkms-2\n"
    assert rewrapped.exit_code == 0, rewrapped.output
    assert retired.exit_code == 0, retired.output
    assert KMS["kms"].key_ids() == ["fkms-2"]
    assert all(w.startswith("fkms-2:v1.") for w in wrapped(app).values())
    assert read_all(app) == customers


def test_an_adapter_that_cannot_rotate_is_rotated_in_the_kms(
    app_config: dict[str, Any], customers: dict[str, dict[str, Any]], app: Flask
) -> None:
    read_only = create_app({**app_config, "KEK_ADAPTER": spec("read_only_kms")})
    try:
        runner = read_only.test_cli_runner()
        refused = runner.invoke(args=["keys", "rotate-kek"])
        assert refused.exit_code != 0
        assert "kms keyring is not rotated by this command" in refused.output

        KMS["kms"].rotate()  # what an operator does in the KMS itself
        assert runner.invoke(args=["keys", "rewrap"]).exit_code == 0
        retire = runner.invoke(args=["keys", "retire-kek", "fkms-1"])

        assert retire.exit_code != 0
        assert "nothing is wrapped by fkms-1 any more" in retire.output
        assert read_all(read_only) == customers
    finally:
        get_engine(read_only).dispose()


@pytest.mark.parametrize(
    ("adapter", "problem"),
    [
        (spec("no_unwrap"), "returned an object without unwrap"),
        ("tests.profiles.no_such_module:factory", "cannot be imported"),
        (f"{__name__}:no_such_factory", "cannot be imported"),
    ],
)
def test_a_bad_adapter_is_refused_by_name(
    app_config: dict[str, Any], adapter: str, problem: str
) -> None:
    bad = create_app({**app_config, "KEK_ADAPTER": adapter})
    try:
        metadata.create_all(get_engine(bad))
        with pytest.raises(KeyError_, match="GOVERNANCE_KEK_ADAPTER") as refused:
            ProfileCrypto.from_app(bad)
        assert problem in str(refused.value)
    finally:
        get_engine(bad).dispose()


def test_kms_without_an_adapter_is_a_settings_error() -> None:
    with pytest.raises(ValidationError, match="kek_adapter"):
        Settings(kek_provider="kms")
    with pytest.raises(ValidationError, match="kek_adapter"):
        Settings(kek_provider="kms", kek_adapter="not a dotted name")
