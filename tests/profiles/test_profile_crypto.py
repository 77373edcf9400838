"""Envelope encryption and blind indexes, without a database."""

from __future__ import annotations

import base64
import os
from typing import Any

import pytest

from governance.keys import Keyring
from governance.profiles.crypto import (
    DecryptionError,
    ProfileCrypto,
    canonical_json,
    decrypt_values,
    normalise_identifier,
    revealing,
)

SUBJECT = "sub_fictionalAAAA"


@pytest.fixture(autouse=True)
def _inside_the_guarded_read() -> Any:
    """These tests are of the cipher itself: they decrypt as the guarded read does."""
    with revealing():
        yield


OTHER = "sub_fictionalBBBB"


def make_crypto(kek: bytes | None = None, blind: bytes | None = None) -> ProfileCrypto:
    keyring = Keyring("kek-1", {"kek-1": kek or os.urandom(32)})
    return ProfileCrypto(keyring, blind or os.urandom(32))


@pytest.fixture
def pc() -> ProfileCrypto:
    return make_crypto()


@pytest.mark.parametrize(
    "value",
    ["10012345678", "王晓雨", "", 1990, 0, 123.45, ["面霜", "口红"], [], "2026-01-31"],
)
def test_values_round_trip(pc: ProfileCrypto, value: Any) -> None:
    cipher, wrapped = pc.new_subject_key(SUBJECT)
    blob = cipher.encrypt("nickname", value)
    reopened = pc.open_subject_key(SUBJECT, 1, wrapped)
    assert reopened.decrypt("nickname", blob) == value


def test_ciphertext_is_not_the_plaintext_and_nonces_differ(pc: ProfileCrypto) -> None:
    cipher, _ = pc.new_subject_key(SUBJECT)
    one, two = cipher.encrypt("mobile", "10012345678"), cipher.encrypt("mobile", "10012345678")
    assert one != two
    assert b"10012345678" not in one
    assert one[0] == 1 and len(one) == 1 + 12 + len(b'"10012345678"') + 16


def test_ciphertext_moved_to_another_field_fails(pc: ProfileCrypto) -> None:
    cipher, _ = pc.new_subject_key(SUBJECT)
    blob = cipher.encrypt("mobile", "10012345678")
    with pytest.raises(DecryptionError) as caught:
        cipher.decrypt("email", blob)
    assert caught.value.subject_id == SUBJECT and caught.value.field == "email"
    assert SUBJECT in str(caught.value) and "email" in str(caught.value)
    assert "10012345678" not in str(caught.value)


def test_ciphertext_moved_to_another_subject_fails_even_with_the_same_data_key(
    pc: ProfileCrypto,
) -> None:
    cipher, wrapped = pc.new_subject_key(SUBJECT)
    blob = cipher.encrypt("mobile", "10012345678")
    # The AAD names the subject: even a copied data key does not open a moved value.
    data_key = pc.keyring.unwrap(wrapped, b"subject-key:" + SUBJECT.encode() + b"\x001")
    from governance.profiles.crypto import SubjectCipher

    other = SubjectCipher(OTHER, 1, data_key)
    with pytest.raises(DecryptionError, match=OTHER):
        other.decrypt("mobile", blob)


def test_wrapped_key_moved_to_another_subject_fails(pc: ProfileCrypto) -> None:
    _, wrapped = pc.new_subject_key(SUBJECT)
    with pytest.raises(DecryptionError, match=f"data key of subject {OTHER}"):
        pc.open_subject_key(OTHER, 1, wrapped)


def test_other_key_version_fails(pc: ProfileCrypto) -> None:
    cipher, wrapped = pc.new_subject_key(SUBJECT, key_version=1)
    blob = cipher.encrypt("city", "上海")
    with pytest.raises(DecryptionError):
        pc.open_subject_key(SUBJECT, 2, wrapped)
    from governance.profiles.crypto import SubjectCipher

    data_key = pc.keyring.unwrap(wrapped, b"subject-key:" + SUBJECT.encode() + b"\x001")
    with pytest.raises(DecryptionError):
        SubjectCipher(SUBJECT, 2, data_key).decrypt("city", blob)


def test_wrong_kek_fails(pc: ProfileCrypto) -> None:
    _, wrapped = pc.new_subject_key(SUBJECT)
    impostor = make_crypto()  # same key id "kek-1", other key
    with pytest.raises(DecryptionError, match=SUBJECT):
        impostor.open_subject_key(SUBJECT, 1, wrapped)


def test_unknown_kek_id_fails(pc: ProfileCrypto) -> None:
    _, wrapped = pc.new_subject_key(SUBJECT)
    other = ProfileCrypto(Keyring("kek-9", {"kek-9": os.urandom(32)}), os.urandom(32))
    with pytest.raises(DecryptionError, match="kek-1"):
        other.open_subject_key(SUBJECT, 1, wrapped)


def test_tampered_ciphertext_fails(pc: ProfileCrypto) -> None:
    cipher, _ = pc.new_subject_key(SUBJECT)
    blob = bytearray(cipher.encrypt("nickname", "小雨"))
    blob[-1] ^= 0x01
    with pytest.raises(DecryptionError):
        cipher.decrypt("nickname", bytes(blob))
    with pytest.raises(DecryptionError, match="format"):
        cipher.decrypt("nickname", b"\x02" + bytes(blob[1:]))


def test_decrypt_values_opens_several_fields(pc: ProfileCrypto) -> None:
    cipher, _ = pc.new_subject_key(SUBJECT)
    rows = [
        ("city", cipher.encrypt("city", "杭州")),
        ("coupon_use", cipher.encrypt("coupon_use", 3)),
    ]
    assert decrypt_values(cipher, rows) == {"city": "杭州", "coupon_use": 3}


def test_canonical_json_is_compact_sorted_utf8() -> None:
    assert canonical_json({"b": 1, "a": ["杭州", 2.5]}) == '{"a":["杭州",2.5],"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json(float("nan"))


@pytest.mark.parametrize(
    ("field", "variant", "canonical"),
    [
        ("mobile", "100 1234 5678", "10012345678"),
        ("mobile", "+86 100-1234-5678", "10012345678"),
        ("mobile", "+8610012345678", "10012345678"),
        ("mobile", "0086 (100) 1234.5678", "10012345678"),
        ("email", "  Li.Ming@Example.COM ", "li.ming@example.com"),
        ("wecom_unionid", " oDemoAbC123 \n", "oDemoAbC123"),
    ],
)
def test_identifier_variants_share_one_blind_index(
    pc: ProfileCrypto, field: str, variant: str, canonical: str
) -> None:
    assert normalise_identifier(field, variant) == canonical
    assert pc.blind_index(field, variant) == pc.blind_index(field, canonical)


def test_unionid_keeps_its_case(pc: ProfileCrypto) -> None:
    assert pc.blind_index("wecom_unionid", "oDemoABC") != pc.blind_index(
        "wecom_unionid", "odemoabc"
    )


def test_blind_index_is_a_32_byte_keyed_hmac_per_field() -> None:
    blind = os.urandom(32)
    one, same, other = make_crypto(blind=blind), make_crypto(blind=blind), make_crypto()
    digest = one.blind_index("mobile", "10012345678")
    assert len(digest) == 32
    assert same.blind_index("mobile", "10012345678") == digest  # a KEK change does not matter
    assert other.blind_index("mobile", "10012345678") != digest  # another blind-index key
    assert one.blind_index("minor_guardian_mobile", "10012345678") != digest  # another field
    import hashlib
    import hmac

    expected = hmac.new(blind, b"mobile\x0010012345678", hashlib.sha256).digest()
    assert digest == expected


def test_short_blind_index_key_is_refused() -> None:
    from governance.keys import KeyError_

    with pytest.raises(KeyError_):
        ProfileCrypto(Keyring("k", {"k": os.urandom(32)}), os.urandom(16))


def test_wrapped_key_holds_no_key_material_in_clear(pc: ProfileCrypto) -> None:
    _, wrapped = pc.new_subject_key(SUBJECT)
    data_key = pc.keyring.unwrap(wrapped, b"subject-key:" + SUBJECT.encode() + b"\x001")
    assert len(data_key) == 32
    assert data_key not in base64.b64decode(wrapped.partition(":")[2])
