"""Demo helpers: the demo commands registered, the default catalog, decrypted reads."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from governance.profiles.crypto import decrypt_values, profile_crypto, revealing
from governance.profiles.models import ProfileValue, SubjectKey


@pytest.fixture
def demo_app(app: Flask) -> Flask:
    """The app, whose ``governance demo`` commands create_app registered."""
    assert "demo" in app.cli.commands
    return app


@pytest.fixture
def demo(demo_app: Flask) -> FlaskCliRunner:
    """A CLI runner for the demo commands."""
    return demo_app.test_cli_runner()


@pytest.fixture
def profiles(app: Flask) -> Any:
    """Every subject's decrypted profile, by subject id (tests only)."""
    from governance.db import get_session

    def read() -> dict[str, dict[str, Any]]:
        with app.app_context():
            db = get_session()
            crypto = profile_crypto()
            out: dict[str, dict[str, Any]] = {}
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

    return read
