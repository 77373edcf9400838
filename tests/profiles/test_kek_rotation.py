"""KEK rotation: rotate-kek, rewrap, status and retire-kek keep every stored secret readable."""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from audit.models import AuditEntry
from consent.webhooks.models import WebhookSubscription
from consent.webhooks.services import secret_aad, unwrap_secret
from governance import create_app
from governance.auth import services as auth_services
from governance.auth.models import Operator
from governance.db import get_engine
from governance.keys import FileKeys, KeyError_, Keyring, parse_keyring
from governance.profiles import rotation
from governance.profiles.crypto import (
    DecryptionError,
    ProfileCrypto,
    decrypt_values,
    profile_crypto,
    revealing,
)
from governance.profiles.models import ProfileValue, Subject, SubjectKey
from governance.profiles.store import create_subject

# Fictional customers: reserved number range, example.com addresses, invented names.
CUSTOMERS = [
    {
        "mobile": f"+86 100-2000-{n:04d}",
        "email": f"customer{n}@example.com",
        "nickname": name,
        "birth_year": 1980 + n,
        "browse_history": ["面霜", f"item-{n}"],
        "order_total_12m": 100.5 * n,
    }
    for n, name in enumerate(["小雨", "Ming", "阿华", "Lan", "Jun", "小北", "Tao"], start=1)
]


# -- helpers ---------------------------------------------------------------------------------


def make_customers(db: Session, count: int = len(CUSTOMERS)) -> dict[str, dict[str, Any]]:
    """Create ``count`` fictional subjects; return their values by subject id."""
    made = {create_subject(db, values): values for values in CUSTOMERS[:count]}
    db.commit()
    return made


def keyring_doc(app: Flask) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(app.config["KEY_PATHS"].kek.read_text())
    return doc


def wrapped_keys(db: Session) -> dict[str, str]:
    db.expire_all()
    return {s: w for s, w in db.execute(select(SubjectKey.subject_id, SubjectKey.wrapped_key))}


def value_rows(db: Session) -> list[tuple[Any, ...]]:
    rows = db.execute(
        select(
            ProfileValue.subject_id,
            ProfileValue.field,
            ProfileValue.key_version,
            ProfileValue.ciphertext,
            ProfileValue.updated_at,
        ).order_by(ProfileValue.subject_id, ProfileValue.field)
    )
    return [(s, f, v, bytes(c), u) for s, f, v, c, u in rows]


def read_all(db: Session, crypto: ProfileCrypto) -> dict[str, dict[str, Any]]:
    """Open every subject key with ``crypto`` and decrypt every value (test-only path)."""
    db.expire_all()
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


def audit_entries(db: Session, action: str) -> list[AuditEntry]:
    db.expire_all()
    return list(
        db.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
    )


def invoke(runner: FlaskCliRunner, *args: str) -> Any:
    return runner.invoke(args=["keys", *args])


def rotate(runner: FlaskCliRunner) -> str:
    result = invoke(runner, "rotate-kek")
    assert result.exit_code == 0, result.output
    return str(result.stdout.strip())


def key_material(app: Flask) -> list[str]:
    """Every KEK in the keyring file, base64 as stored (to prove none is ever shown)."""
    return list(keyring_doc(app)["keys"].values())


@pytest.fixture
def fresh_crypto(app: Flask) -> Any:
    """A ProfileCrypto read from the key files now (as a newly started process would)."""

    def make() -> ProfileCrypto:
        return ProfileCrypto.from_app(app)

    return make


# -- rotation, re-wrapping, retirement -------------------------------------------------------


def test_rotate_rewrap_keeps_every_value_readable(
    app: Flask, store_db: Session, runner: FlaskCliRunner, fresh_crypto: Any
) -> None:
    customers = make_customers(store_db)
    before = wrapped_keys(store_db)
    assert {w.split(":")[0] for w in before.values()} == {"kek-1"}

    new_id = rotate(runner)
    rewrapped = invoke(runner, "rewrap", "--batch-size", "3")

    assert rewrapped.exit_code == 0, rewrapped.output
    assert f"re-wrapped {len(customers)} secrets under {new_id}" in rewrapped.stdout
    doc = keyring_doc(app)
    assert doc["active"] == new_id and set(doc["keys"]) == {"kek-1", new_id}
    after = wrapped_keys(store_db)
    assert all(w.startswith(f"{new_id}:") for w in after.values())
    assert all(after[s] != before[s] for s in before)
    assert read_all(store_db, fresh_crypto()) == customers


def test_rotate_prints_the_new_key_id_only_and_writes_the_file_0600(
    app: Flask, runner: FlaskCliRunner
) -> None:
    kek_file = app.config["KEY_PATHS"].kek
    old_material = key_material(app)

    result = invoke(runner, "rotate-kek")

    assert result.exit_code == 0, result.output
    new_id = result.stdout.strip()
    assert result.stdout == new_id + "\n"
    assert new_id.startswith("kek-") and new_id in keyring_doc(app)["keys"]
    assert stat.S_IMODE(kek_file.stat().st_mode) == 0o600
    assert [p.name for p in kek_file.parent.iterdir() if p.name.startswith(".kek.json.")] == [
        ".kek.json.lock"
    ]
    assert len(base64.b64decode(keyring_doc(app)["keys"][new_id])) == 32
    assert not any(k in result.output for k in key_material(app))
    assert keyring_doc(app)["keys"]["kek-1"] == old_material[0]


def test_profile_values_are_byte_for_byte_unchanged(
    app: Flask, store_db: Session, runner: FlaskCliRunner, fresh_crypto: Any
) -> None:
    make_customers(store_db)
    values_before = value_rows(store_db)
    old_crypto = fresh_crypto()
    data_keys_before = {
        k.subject_id: old_crypto.keyring.unwrap(k.wrapped_key, _aad(k))
        for k in store_db.scalars(select(SubjectKey))
    }

    rotate(runner)
    assert invoke(runner, "rewrap").exit_code == 0
    store_db.expire_all()

    assert value_rows(store_db) == values_before
    new_crypto = fresh_crypto()
    data_keys_after = {
        k.subject_id: new_crypto.keyring.unwrap(k.wrapped_key, _aad(k))
        for k in store_db.scalars(select(SubjectKey))
    }
    assert data_keys_after == data_keys_before  # the same data keys, wrapped anew


def _aad(key: SubjectKey) -> bytes:
    return b"subject-key:" + key.subject_id.encode() + b"\x00" + str(key.key_version).encode()


def test_old_kek_is_retirable_only_after_rewrap_and_values_still_decrypt(
    app: Flask, store_db: Session, runner: FlaskCliRunner, fresh_crypto: Any
) -> None:
    customers = make_customers(store_db, 4)
    material = key_material(app)
    rotate(runner)

    refused = invoke(runner, "retire-kek", "kek-1")

    assert refused.exit_code != 0
    assert "kek-1 still wraps 4 stored secrets" in refused.output
    assert "governance keys rewrap" in refused.output
    assert "kek-1" in keyring_doc(app)["keys"]
    [denied] = audit_entries(store_db, "keys.kek.retire")
    assert denied.decision == "deny"
    assert json.loads(denied.details)["still_wrapped"]["subject_keys"] == 4

    assert invoke(runner, "rewrap").exit_code == 0
    retired = invoke(runner, "retire-kek", "kek-1")

    assert retired.exit_code == 0, retired.output
    assert retired.stdout == "kek-1 retired\n"
    assert "kek-1" not in keyring_doc(app)["keys"]
    assert read_all(store_db, fresh_crypto()) == customers
    allowed = audit_entries(store_db, "keys.kek.retire")[-1]
    assert allowed.decision == "allow"
    every_detail = " ".join(
        e.details
        for e in store_db.scalars(select(AuditEntry).where(AuditEntry.action.like("keys.%")))
    )
    assert not any(k in every_detail for k in material + key_material(app))


def test_the_active_kek_and_unknown_ids_are_not_retired(app: Flask, runner: FlaskCliRunner) -> None:
    active = invoke(runner, "retire-kek", "kek-1")
    unknown = invoke(runner, "retire-kek", "kek-404")

    assert active.exit_code != 0 and "kek-1 is the active KEK" in active.output
    assert unknown.exit_code != 0 and "no KEK 'kek-404'" in unknown.output
    assert set(keyring_doc(app)["keys"]) == {"kek-1"}


def test_status_counts_per_kek_and_marks_the_active_one(
    store_db: Session, runner: FlaskCliRunner
) -> None:
    make_customers(store_db, 5)
    new_id = rotate(runner)
    assert invoke(runner, "rewrap", "--batch-size", "2").exit_code == 0
    create_subject(store_db, CUSTOMERS[5])  # after the rotation: under the new KEK
    store_db.commit()

    shown = invoke(runner, "status", "--json")
    table = invoke(runner, "status")

    assert shown.exit_code == 0 and table.exit_code == 0
    doc = json.loads(shown.stdout)
    assert doc["active"] == new_id
    assert doc["keys"]["kek-1"]["subject_keys"] == 0
    assert doc["keys"][new_id]["subject_keys"] == 6
    assert [line.split()[0] for line in table.stdout.splitlines()[1:]] == ["kek-1", new_id]
    assert table.stdout.splitlines()[2].endswith("active")


def test_rewrap_resumes_after_an_interruption_and_does_nothing_twice(
    store_db: Session, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_customers(store_db, 7)
    new_id = rotate(runner)
    real = rotation._rewrapped
    calls = {"n": 0}

    def second_batch_fails_once(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("fictional crash in the second batch")
        return real(*args)

    monkeypatch.setattr(rotation, "_rewrapped", second_batch_fails_once)

    crashed = invoke(runner, "rewrap", "--batch-size", "3")

    assert crashed.exit_code != 0
    assert isinstance(crashed.exception, RuntimeError)
    first = {s: w for s, w in wrapped_keys(store_db).items() if w.startswith(f"{new_id}:")}
    assert len(first) == 3  # the first batch was committed, the second rolled back
    [interrupted] = audit_entries(store_db, "keys.kek.rewrap")
    assert interrupted.decision == "error"
    assert json.loads(interrupted.details)["counts"]["subject_keys"]["rewrapped"] == 3
    assert json.loads(interrupted.details)["completed"] is False

    resumed = invoke(runner, "rewrap", "--batch-size", "3")

    assert resumed.exit_code == 0, resumed.output
    assert "re-wrapped 4 secrets" in resumed.stdout
    after = wrapped_keys(store_db)
    assert all(w.startswith(f"{new_id}:") for w in after.values())
    assert {s: after[s] for s in first} == first  # not re-wrapped a second time
    finished = audit_entries(store_db, "keys.kek.rewrap")[-1]
    assert finished.decision == "allow" and json.loads(finished.details)["completed"] is True
    assert invoke(runner, "rewrap").stdout.startswith("re-wrapped 0 secrets")


def test_rewrap_never_brings_back_a_shredded_key(store_db: Session, runner: FlaskCliRunner) -> None:
    ids = list(make_customers(store_db, 4))
    erased = ids[0]
    # Erasure deletes the subject's key from the vault (and marks the subject erased).
    store_db.execute(
        update(Subject).where(Subject.id == erased).values(erased_at=Subject.created_at)
    )
    store_db.execute(delete(SubjectKey).where(SubjectKey.subject_id == erased))
    store_db.commit()
    new_id = rotate(runner)

    result = invoke(runner, "rewrap")

    assert result.exit_code == 0, result.output
    assert "re-wrapped 3 secrets" in result.stdout
    assert erased not in wrapped_keys(store_db)
    assert (
        json.loads(invoke(runner, "status", "--json").stdout)["keys"][new_id]["subject_keys"] == 3
    )


def test_a_wrapped_key_moved_to_another_subject_does_not_open(
    app: Flask, store_db: Session, runner: FlaskCliRunner, fresh_crypto: Any
) -> None:
    alice, bob = list(make_customers(store_db, 2))
    keys = wrapped_keys(store_db)
    store_db.execute(
        update(SubjectKey).where(SubjectKey.subject_id == bob).values(wrapped_key=keys[alice])
    )
    store_db.commit()

    with pytest.raises(DecryptionError, match=bob):
        fresh_crypto().open_subject_key(bob, 1, keys[alice])
    rotate(runner)
    result = invoke(runner, "rewrap")

    assert result.exit_code != 0
    assert f"cannot unwrap subject_keys {bob}" in result.output
    assert "1 secrets did not unwrap" in result.output
    assert wrapped_keys(store_db)[bob] == keys[alice]  # left as it was
    assert invoke(runner, "retire-kek", "kek-1").exit_code != 0  # still in use


def test_operator_totp_and_webhook_secrets_are_rewrapped_too(
    app: Flask, store_db: Session, runner: FlaskCliRunner, make_operator: Any, fresh_crypto: Any
) -> None:
    operator_id = make_operator("dpo")
    operator = store_db.get(Operator, operator_id)
    assert operator is not None
    auth_services.start_totp_enrolment(operator, profile_crypto().keyring)
    webhook_id = "whs_0123456789abcdef"
    store_db.add(
        WebhookSubscription(
            id=webhook_id,
            name="fictional crm",
            url="https://crm.example.com/hook",
            purposes=["marketing_push"],
            secret_wrapped=profile_crypto().keyring.wrap(
                b"whsec_fictional", secret_aad(webhook_id)
            ),
        )
    )
    store_db.commit()
    totp_before = auth_services.totp_secret(operator, profile_crypto().keyring)

    rotate(runner)
    assert invoke(runner, "retire-kek", "kek-1").exit_code != 0
    rewrapped = invoke(runner, "rewrap")
    retired = invoke(runner, "retire-kek", "kek-1")

    assert rewrapped.exit_code == 0 and "operator_totp: 1, webhook_secrets: 1" in rewrapped.stdout
    assert retired.exit_code == 0, retired.output
    store_db.expire_all()
    keyring = fresh_crypto().keyring
    assert auth_services.totp_secret(operator, keyring) == totp_before
    subscription = store_db.get(WebhookSubscription, webhook_id)
    assert subscription is not None
    assert unwrap_secret(keyring, webhook_id, subscription.secret_wrapped) == b"whsec_fictional"


# -- the keys in memory follow the keyring -------------------------------------------------


def test_a_command_leaves_no_stale_keys_in_its_process(
    app: Flask, store_db: Session, runner: FlaskCliRunner
) -> None:
    cached = profile_crypto(app)

    new_id = rotate(runner)

    assert profile_crypto(app) is not cached
    assert profile_crypto(app).keyring.active_id == new_id
    subject_id = create_subject(store_db, CUSTOMERS[0])
    store_db.commit()
    assert wrapped_keys(store_db)[subject_id].startswith(f"{new_id}:")


@pytest.fixture
def other_process(app_config: dict[str, Any]) -> Iterator[Flask]:
    """Another app on the same instance and keys (as a separately started worker)."""
    other = create_app(app_config)
    yield other
    get_engine(other).dispose()


def test_a_running_process_follows_a_rotation_done_elsewhere(
    app: Flask,
    store_db: Session,
    other_process: Flask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    customers = make_customers(store_db, 3)
    running = profile_crypto(app)  # cached before the rotation
    assert running.keyring.active_id == "kek-1"

    new_id = rotate(other_process.test_cli_runner())
    assert other_process.test_cli_runner().invoke(args=["keys", "rewrap"]).exit_code == 0

    # Re-wrapped keys name a KEK it has not seen: it re-reads the file at once.
    assert read_all(store_db, running) == customers
    # New keys are wrapped under the new KEK once it has looked at the file again.
    monkeypatch.setattr(FileKeys, "REFRESH_SECONDS", 0.0)
    assert running.keyring.wrap(b"x" * 32, b"aad").startswith(f"{new_id}:")


# -- the keyring file and environment --------------------------------------------------------

KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (json.dumps({"active": "kek:1", "keys": {"kek:1": KEY_A}}), "not valid"),
        (json.dumps({"active": "k 1", "keys": {"k 1": KEY_A}}), "not valid"),
        (f'{{"active": "k1", "keys": {{"k1": "{KEY_A}", "k1": "{KEY_B}"}}}}', "twice"),
        (json.dumps({"active": "k2", "keys": {"k1": KEY_A}}), "active key id is not among"),
        (json.dumps({"active": "k1", "keys": {"k1": KEY_A, "k2": KEY_A}}), "same key"),
        (json.dumps({"active": "k1", "keys": {"k1": KEY_A[:-8]}}), "not 256 bits"),
        (json.dumps({"active": "k1", "keys": {"k1": "%%%"}}), "not base64"),
        (json.dumps({"active": "k1", "keys": {}}), "malformed"),
        ("not json " + KEY_A, "malformed"),
    ],
)
def test_a_bad_keyring_file_is_refused_naming_the_file_not_the_key(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "kek.json"
    path.write_text(text)
    path.chmod(0o600)

    with pytest.raises(KeyError_) as refused:
        Keyring.from_file(path)

    message = str(refused.value)
    assert str(path) in message and problem in message
    assert KEY_A not in message and KEY_B not in message and KEY_A[:-8] not in message


def test_a_damaged_keyring_file_stops_the_commands(app: Flask, runner: FlaskCliRunner) -> None:
    kek_file = app.config["KEY_PATHS"].kek
    doc = keyring_doc(app)
    doc["active"] = "kek-unknown"
    kek_file.write_text(json.dumps(doc))

    result = invoke(runner, "status")

    assert result.exit_code != 0
    assert str(kek_file) in result.output and "active key id is not among" in result.output
    assert doc["keys"]["kek-1"] not in result.output


def test_a_failed_write_leaves_the_keyring_file_whole(
    app: Flask, runner: FlaskCliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    kek_file = app.config["KEY_PATHS"].kek
    before = kek_file.read_bytes()

    def disk_full(*_args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    result = invoke(runner, "rotate-kek")

    assert result.exit_code != 0 and "No space left" in result.output
    assert kek_file.read_bytes() == before
    assert [p.name for p in kek_file.parent.iterdir() if p.name.startswith(".kek.json.")] == [
        ".kek.json.lock"
    ]


def test_a_keyring_from_the_environment_works_and_is_not_rotated_here(
    app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env_key = base64.b64encode(os.urandom(32)).decode()
    monkeypatch.setenv(
        "FICTIONAL_KEK_JSON", json.dumps({"active": "env-1", "keys": {"env-1": env_key}})
    )
    env_app = create_app({**app_config, "KEK_PROVIDER": "env", "KEK_ENV_VAR": "FICTIONAL_KEK_JSON"})
    try:
        crypto = profile_crypto(env_app)
        _cipher, wrapped = crypto.new_subject_key("sub_AAAAAAAAAAAAAAAAAAAAAA")
        assert wrapped.startswith("env-1:")
        assert env_key not in json.dumps(dict(env_app.config), default=str)

        result = env_app.test_cli_runner().invoke(args=["keys", "rotate-kek"])

        assert (
            result.exit_code != 0 and "env keyring is not rotated by this command" in result.output
        )
        monkeypatch.setenv(
            "FICTIONAL_KEK_JSON",
            json.dumps({"active": "env-1", "keys": {"env-1": env_key, "env-2": env_key}}),
        )
        with pytest.raises(KeyError_, match="environment variable FICTIONAL_KEK_JSON") as bad:
            ProfileCrypto.from_app(env_app)
        assert env_key not in str(bad.value)
    finally:
        get_engine(env_app).dispose()


def test_parse_keyring_round_trips_a_rotated_document(app: Flask, runner: FlaskCliRunner) -> None:
    rotate(runner)
    active, keys = parse_keyring(app.config["KEY_PATHS"].kek.read_bytes(), "test")
    assert active in keys and len(keys) == 2
