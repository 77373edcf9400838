"""Profile-store helpers: the default catalog loaded, the app's profile crypto, raw rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.profiles.crypto import ProfileCrypto, decrypt_values, profile_crypto, revealing
from governance.profiles.models import ProfileValue, SubjectKey


@pytest.fixture
def store_db(db: Session, catalog: None) -> Iterator[Session]:
    """A session (in an app context) on a database with the default catalog."""
    yield db


@pytest.fixture
def crypto(app: Flask) -> ProfileCrypto:
    """The app's profile crypto (its development keys)."""
    with app.app_context():
        return profile_crypto()


@pytest.fixture
def read_profile(crypto: ProfileCrypto) -> Any:
    """Decrypt every stored value of a subject straight from its rows (tests only)."""

    def read(db: Session, subject_id: str) -> dict[str, Any]:
        key = db.get(SubjectKey, subject_id)
        assert key is not None
        cipher = crypto.open_subject_key(subject_id, key.key_version, key.wrapped_key)
        rows = db.execute(
            select(ProfileValue.field, ProfileValue.ciphertext).where(
                ProfileValue.subject_id == subject_id
            )
        )
        with revealing():  # the store's own test path, outside the guarded read
            return decrypt_values(cipher, [(f, bytes(c)) for f, c in rows])

    return read
