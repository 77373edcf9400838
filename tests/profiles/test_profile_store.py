"""Writing encrypted profiles, refusing what the catalog does not allow, blind-index lookup."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from governance.errors import ApiError
from governance.profiles import crypto as crypto_module
from governance.profiles.crypto import DecryptionError, ProfileCrypto
from governance.profiles.models import BlindIndex, ProfileValue, Subject, SubjectKey
from governance.profiles.store import create_subject, find_subject_by, put_values

ALICE = {
    "mobile": "+86 100-2000-0001",
    "email": "Xiaoyu.Wang@Example.com",
    "wecom_unionid": "oDemoFictionalUnion0001",
    "nickname": "小雨",
    "birth_year": 1991,
    "city": "杭州",
    "browse_history": ["面霜", "口红"],
    "order_total_12m": 1234.5,
    "coupon_use": 2,
    "service_notes": "Customer asked about the gold tier benefits.",
}


def count(db: Session, model: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model)) or 0)


def test_created_subject_round_trips(store_db: Session, read_profile: Any) -> None:
    subject_id = create_subject(store_db, ALICE)
    store_db.commit()
    assert subject_id.startswith("sub_") and len(subject_id) == 26
    assert read_profile(store_db, subject_id) == ALICE
    subject = store_db.get(Subject, subject_id)
    assert subject is not None and subject.birth_year == 1991
    digests = store_db.scalars(select(BlindIndex.field).where(BlindIndex.subject_id == subject_id))
    assert sorted(digests) == ["email", "mobile", "wecom_unionid"]


def test_stored_rows_hold_ciphertext_bound_to_version_one(store_db: Session) -> None:
    subject_id = create_subject(store_db, {"mobile": "10020000002"})
    store_db.commit()
    row = store_db.get(ProfileValue, (subject_id, "mobile"))
    key = store_db.get(SubjectKey, subject_id)
    assert row is not None and key is not None
    assert row.key_version == key.key_version == 1
    assert b"10020000002" not in bytes(row.ciphertext)
    assert row.updated_at.tzinfo is not None and key.created_at.tzinfo is not None


def test_unknown_field_is_refused_and_nothing_written(store_db: Session, db_snapshot: Any) -> None:
    before = db_snapshot()
    with pytest.raises(ApiError) as caught:
        create_subject(store_db, {"mobile": "10020000003", "shoe_size": "42"})
    store_db.rollback()
    assert caught.value.problem.slug == "validation-error"
    assert caught.value.errors is not None and list(caught.value.errors) == ["shoe_size"]
    assert "shoe_size" in caught.value.detail
    assert "10020000003" not in str(caught.value.detail) + str(caught.value.errors)
    assert db_snapshot() == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birth_year", "1990"),
        ("birth_year", True),
        ("birth_year", 1990.0),
        ("order_total_12m", float("nan")),
        ("order_total_12m", "12.5"),
        ("mobile", 10020000004),
        ("browse_history", "面霜"),
        ("browse_history", ["面霜", 3]),
        ("nickname", None),
    ],
)
def test_value_of_the_wrong_type_is_refused_and_nothing_written(
    store_db: Session, db_snapshot: Any, field: str, value: Any
) -> None:
    before = db_snapshot()
    with pytest.raises(ApiError) as caught:
        create_subject(store_db, {"city": "上海", field: value})
    store_db.rollback()
    assert caught.value.problem.slug == "validation-error"
    assert caught.value.errors is not None and list(caught.value.errors) == [field]
    assert db_snapshot() == before


def test_put_values_refuses_unknown_field_without_writing(
    store_db: Session, db_snapshot: Any, read_profile: Any
) -> None:
    subject_id = create_subject(store_db, {"city": "上海"})
    store_db.commit()
    before = db_snapshot()
    with pytest.raises(ApiError) as caught:
        put_values(store_db, subject_id, {"city": "北京", "favourite_colour": "blue"})
    store_db.rollback()
    assert caught.value.errors is not None and "favourite_colour" in caught.value.errors
    assert db_snapshot() == before
    assert read_profile(store_db, subject_id) == {"city": "上海"}


def test_put_values_replaces_and_adds_values_and_indexes(
    store_db: Session, read_profile: Any
) -> None:
    subject_id = create_subject(store_db, {"mobile": "10020000005", "city": "上海"})
    store_db.commit()
    put_values(
        store_db, subject_id, {"mobile": "10020000006", "gender": "female", "birth_year": 2001}
    )
    store_db.commit()
    assert read_profile(store_db, subject_id) == {
        "mobile": "10020000006",
        "city": "上海",
        "gender": "female",
        "birth_year": 2001,
    }
    assert find_subject_by(store_db, "mobile", "10020000006") == [subject_id]
    assert find_subject_by(store_db, "mobile", "10020000005") == []
    assert count(store_db, BlindIndex) == 1
    subject = store_db.get(Subject, subject_id)
    assert subject is not None and subject.birth_year == 2001


def test_put_values_on_unknown_or_erased_subject_is_refused(store_db: Session) -> None:
    with pytest.raises(ApiError) as unknown:
        put_values(store_db, "sub_nobody", {"city": "上海"})
    assert unknown.value.problem.slug == "not-found"
    subject_id = create_subject(store_db, {"city": "上海"})
    store_db.execute(update(Subject).where(Subject.id == subject_id).values(erased_at=func.now()))
    store_db.expire_all()
    with pytest.raises(ApiError) as erased:
        put_values(store_db, subject_id, {"city": "北京"})
    assert erased.value.problem.slug == "conflict"


def test_duplicate_subject_id_is_refused(store_db: Session) -> None:
    create_subject(store_db, {"city": "上海"}, subject_id="sub_fictionalDup1")
    with pytest.raises(ApiError) as caught:
        create_subject(store_db, {"city": "北京"}, subject_id="sub_fictionalDup1")
    assert caught.value.problem.slug == "conflict"


def test_ciphertext_copied_to_another_subject_does_not_decrypt(
    store_db: Session, read_profile: Any
) -> None:
    alice = create_subject(store_db, {"mobile": "10020000007"})
    bob = create_subject(store_db, {"mobile": "10020000008"})
    stolen = store_db.scalar(
        select(ProfileValue.ciphertext).where(
            ProfileValue.subject_id == alice, ProfileValue.field == "mobile"
        )
    )
    store_db.execute(
        update(ProfileValue)
        .where(ProfileValue.subject_id == bob, ProfileValue.field == "mobile")
        .values(ciphertext=stolen)
    )
    store_db.commit()
    with pytest.raises(DecryptionError) as caught:
        read_profile(store_db, bob)
    assert caught.value.subject_id == bob and caught.value.field == "mobile"
    assert "10020000007" not in str(caught.value)


def test_ciphertext_copied_to_another_field_does_not_decrypt(
    store_db: Session, read_profile: Any
) -> None:
    subject_id = create_subject(store_db, {"mobile": "10020000009", "nickname": "阿明"})
    mobile = store_db.scalar(
        select(ProfileValue.ciphertext).where(
            ProfileValue.subject_id == subject_id, ProfileValue.field == "mobile"
        )
    )
    store_db.execute(
        update(ProfileValue)
        .where(ProfileValue.subject_id == subject_id, ProfileValue.field == "nickname")
        .values(ciphertext=mobile)
    )
    store_db.commit()
    with pytest.raises(DecryptionError, match="nickname"):
        read_profile(store_db, subject_id)


def test_a_wrong_kek_cannot_open_stored_subjects(store_db: Session) -> None:
    import os

    from governance.keys import Keyring

    subject_id = create_subject(store_db, {"city": "上海"})
    store_db.commit()
    key = store_db.get(SubjectKey, subject_id)
    assert key is not None
    impostor = ProfileCrypto(Keyring("kek-1", {"kek-1": os.urandom(32)}), os.urandom(32))
    with pytest.raises(DecryptionError):
        impostor.open_subject_key(subject_id, key.key_version, key.wrapped_key)
    with pytest.raises(DecryptionError):
        put_values(store_db, subject_id, {"city": "北京"}, crypto=impostor)


def test_find_by_identifier_uses_the_blind_index_only(
    store_db: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = create_subject(store_db, ALICE)
    create_subject(store_db, {"mobile": "10020000010", "email": "ming.li@example.com"})
    store_db.commit()

    def no_decryption(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a lookup must not decrypt")

    monkeypatch.setattr(crypto_module.SubjectCipher, "decrypt", no_decryption)
    monkeypatch.setattr(crypto_module.ProfileCrypto, "open_subject_key", no_decryption)
    for variant in ("10020000001", "100 2000 0001", "+86-100-2000-0001"):
        assert find_subject_by(store_db, "mobile", variant) == [alice]
    assert find_subject_by(store_db, "email", "  xiaoyu.wang@EXAMPLE.com") == [alice]
    assert find_subject_by(store_db, "wecom_unionid", "oDemoFictionalUnion0001") == [alice]
    assert find_subject_by(store_db, "mobile", "10020009999") == []


def test_find_with_another_blind_index_key_finds_nothing(store_db: Session) -> None:
    import os

    from governance.keys import Keyring

    create_subject(store_db, ALICE)
    store_db.commit()
    other = ProfileCrypto(Keyring("kek-1", {"kek-1": os.urandom(32)}), os.urandom(32))
    assert find_subject_by(store_db, "mobile", "10020000001", crypto=other) == []


def test_find_ignores_erased_subjects(store_db: Session) -> None:
    subject_id = create_subject(store_db, {"mobile": "10020000011"})
    store_db.execute(update(Subject).where(Subject.id == subject_id).values(erased_at=func.now()))
    assert find_subject_by(store_db, "mobile", "10020000011") == []


@pytest.mark.parametrize("field", ["city", "no_such_field"])
def test_find_by_a_field_without_blind_index_is_refused(store_db: Session, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        find_subject_by(store_db, field, "上海")
    assert caught.value.problem.slug == "validation-error"


def test_no_plaintext_reaches_the_database_file(store_db: Session, stored_bytes: Any) -> None:
    probe = {
        "mobile": "10098765432",
        "email": "plaintext.probe@example.com",
        "wecom_unionid": "oDemoPlaintextProbe77",
        "nickname": "探针昵称Zq",
        "bank_card_number": "9999990000000017",
        "service_notes": "probe note: call back on 10098765432",
    }
    create_subject(store_db, probe)
    store_db.commit()
    store_db.close()
    data = stored_bytes()
    assert len(data) > 0
    assert b"probe" not in data.lower()
    for value in probe.values():
        assert value.encode() not in data, value
        assert value.encode("utf-16-le") not in data, value


def test_cli_find_prints_subject_ids_only(
    app: Flask, runner: FlaskCliRunner, store_db: Session
) -> None:
    subject_id = create_subject(store_db, ALICE)
    store_db.commit()
    found = runner.invoke(args=["profiles", "find", "--field", "mobile"], input="100 2000 0001\n")
    assert found.exit_code == 0, found.output
    assert found.output.strip() == subject_id
    missing = runner.invoke(args=["profiles", "find", "--field", "mobile"], input="10020009999\n")
    assert missing.exit_code == 1 and "no subject found" in missing.output
    assert "10020009999" not in missing.output
    refused = runner.invoke(args=["profiles", "find", "--field", "city"], input="上海\n")
    assert refused.exit_code == 2 and "identifier" in refused.output
