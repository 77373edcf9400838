"""Signed checkpoints: the note's exact text, strict parsing, Ed25519 signing and key ids.

A checkpoint note must parse back only when it is byte for byte what
:func:`audit.checkpoint.encode` writes, because the signature covers those bytes. Keys are
generated per test (never stored); the log origin and hashes are invented.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import checkpoint, merkle
from audit.checkpoint import CheckpointFormatError, TreeHead

ORIGIN = "governance.example.com/audit"
ROOT = hashlib.sha256(b"fictional root").digest()
CHAIN = hashlib.sha256(b"fictional chain").digest()
TIME = "2026-11-25T10:00:00.123456Z"
HEAD = TreeHead(origin=ORIGIN, size=1204, root=ROOT, chain=CHAIN, time=TIME)


def _note(lines: list[str]) -> bytes:
    return "".join(f"{line}\n" for line in lines).encode()


def _lines() -> list[str]:
    """The five lines of HEAD's note, written independently of the module."""
    return [
        ORIGIN,
        "1204",
        base64.standard_b64encode(ROOT).decode(),
        "chain " + base64.standard_b64encode(CHAIN).decode(),
        "time " + TIME,
    ]


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _every_bit_flipped(data: bytes) -> Iterator[bytes]:
    for bit in range(len(data) * 8):
        yield _flip(data, bit)


def _dirty_padding(b64: str) -> str:
    """The same bytes in non-canonical base64: an unused bit before the '=' set."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    assert b64.endswith("=") and not b64.endswith("==")  # 32 bytes: two unused bits
    last = b64[-2]
    dirty = b64[:-2] + alphabet[alphabet.index(last) ^ 1] + "="
    assert base64.b64decode(dirty) == base64.b64decode(b64)
    return dirty


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


# -- the note --------------------------------------------------------------------------------


def test_encode_writes_the_five_lines_of_the_c2sp_shape() -> None:
    assert checkpoint.encode(HEAD) == _note(_lines())


def test_decode_reads_back_what_encode_wrote() -> None:
    assert checkpoint.decode(_note(_lines())) == HEAD


@settings(max_examples=150, deadline=None, database=None)
@given(
    origin=st.text(st.characters(exclude_categories=["Cs"]), min_size=1).filter(
        lambda s: "\n" not in s
    ),
    size=st.integers(min_value=0, max_value=2**64),
    root=st.binary(min_size=32, max_size=32),
    chain=st.binary(min_size=32, max_size=32),
    time=st.text(st.characters(exclude_categories=["Cs"])).filter(lambda s: "\n" not in s),
)
def test_every_well_formed_head_survives_encode_then_decode(
    origin: str, size: int, root: bytes, chain: bytes, time: str
) -> None:
    head = TreeHead(origin=origin, size=size, root=root, chain=chain, time=time)

    assert checkpoint.decode(checkpoint.encode(head)) == head


@pytest.mark.parametrize("origin", ["", "governance.example.com/audit\nsecond line", "\n"])
def test_encode_refuses_an_origin_that_is_not_one_non_empty_line(origin: str) -> None:
    head = TreeHead(origin=origin, size=1, root=ROOT, chain=CHAIN, time=TIME)

    with pytest.raises(CheckpointFormatError, match="origin"):
        checkpoint.encode(head)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("time", "2026-11-25T10:00:00Z\nsize 0"),
        ("size", -1),
        ("root", ROOT[:31]),
        ("chain", CHAIN + b"\x00"),
    ],
    ids=["time with a newline", "negative size", "root of 31 bytes", "chain of 33 bytes"],
)
def test_encode_refuses_a_head_that_decode_would_refuse(field: str, value: object) -> None:
    # Otherwise sign() signs a note that no verifier can read back.
    head = dataclasses.replace(HEAD, **{field: value})

    with pytest.raises(CheckpointFormatError):
        checkpoint.encode(head)


def _malformed() -> Iterator[tuple[str, bytes]]:
    good = _lines()
    note = _note(good)
    for i, name in enumerate(["origin", "size", "root", "chain", "time"]):
        yield f"missing {name} line", _note(good[:i] + good[i + 1 :])
    yield "extra line", note + b"extra\n"
    yield "extra empty line", note + b"\n"
    yield "trailing data", note + b"x"
    yield "no final newline", note[:-1]
    yield "CRLF line ends", note.replace(b"\n", b"\r\n")
    yield "lines swapped", _note([good[0], good[1], good[2], good[4], good[3]])
    yield "empty note", b""
    yield "empty origin", _note(["", *good[1:]])
    yield "non-UTF-8 origin", b"governance.example.com/\xff\n" + note.split(b"\n", 1)[1]
    for size in ["-1", "-0", "+1204", "01204", " 1204", "1204 ", "1_204", "١٢٠٤", "", "x"]:
        yield f"size {size!r}", _note([good[0], size, *good[2:]])
    root, chain = good[2], good[3].removeprefix("chain ")
    bad_roots = {
        "non-canonical base64 root": _dirty_padding(root),
        "root without padding": root.rstrip("="),
        "root in url-safe base64": base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),
        "root with a space inside": root[:10] + " " + root[10:],
        "root of 31 bytes": base64.b64encode(ROOT[:31]).decode(),
        "root of 33 bytes": base64.b64encode(ROOT + b"\x00").decode(),
        "empty root": "",
    }
    for case, text in bad_roots.items():
        yield case, _note([good[0], good[1], text, *good[3:]])
    bad_chains = {
        "non-canonical base64 chain": _dirty_padding(chain),
        "chain of 31 bytes": base64.b64encode(CHAIN[:31]).decode(),
        "chain of 64 bytes": base64.b64encode(CHAIN * 2).decode(),
    }
    for case, text in bad_chains.items():
        yield case, _note([*good[:3], "chain " + text, good[4]])
    for case, line in {
        "chain label missing": chain,
        "chain label in capitals": "Chain " + chain,
        "chain label with a colon": "chain: " + chain,
        "chain label doubled space": "chain  " + chain,
    }.items():
        yield case, _note([*good[:3], line, good[4]])
    for case, line in {
        "time label missing": TIME,
        "time label in capitals": "Time " + TIME,
    }.items():
        yield case, _note([*good[:4], line])


MALFORMED = list(_malformed())


@pytest.mark.parametrize("note", [n for _, n in MALFORMED], ids=[c for c, _ in MALFORMED])
def test_decode_refuses_a_malformed_note(note: bytes) -> None:
    with pytest.raises(CheckpointFormatError):
        checkpoint.decode(note)


def test_a_format_error_is_a_value_error() -> None:
    assert issubclass(CheckpointFormatError, ValueError)


# -- base64 ----------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None, database=None)
@given(data=st.binary(max_size=80))
def test_unb64_reads_back_what_b64_wrote(data: bytes) -> None:
    text = checkpoint.b64(data)

    assert text == base64.standard_b64encode(data).decode()
    assert checkpoint.unb64(text) == data
    assert checkpoint.unb64(text, length=len(data)) == data


@pytest.mark.parametrize(
    "text",
    ["AA", "AA=", "AA===", "A", "AA==\n", " AA==", "AA ==", "-_8=", "AA==AA==", "ÀA==", "AA\x00="],
)
def test_unb64_refuses_text_that_is_not_strict_standard_base64(text: str) -> None:
    with pytest.raises(ValueError, match="not valid base64"):
        checkpoint.unb64(text)


@pytest.mark.parametrize("length", [0, 31, 33])
def test_unb64_refuses_the_wrong_number_of_bytes(length: int) -> None:
    with pytest.raises(ValueError, match=f"expected {length} bytes, got 32"):
        checkpoint.unb64(checkpoint.b64(ROOT), length=length)


# -- signatures and keys ---------------------------------------------------------------------


def test_a_signed_note_verifies_with_the_signers_public_key(key: Ed25519PrivateKey) -> None:
    body, signature = checkpoint.sign(HEAD, key)

    assert body == checkpoint.encode(HEAD)
    assert len(signature) == 64
    assert checkpoint.signature_valid(body, signature, key.public_key())


def test_every_flipped_bit_of_the_note_breaks_the_signature(key: Ed25519PrivateKey) -> None:
    body, signature = checkpoint.sign(HEAD, key)

    for bad in _every_bit_flipped(body):
        assert not checkpoint.signature_valid(bad, signature, key.public_key())


def test_every_flipped_bit_of_the_signature_breaks_it(key: Ed25519PrivateKey) -> None:
    body, signature = checkpoint.sign(HEAD, key)

    for bad in _every_bit_flipped(signature):
        assert not checkpoint.signature_valid(body, bad, key.public_key())


def test_a_note_changed_in_length_breaks_the_signature(key: Ed25519PrivateKey) -> None:
    body, signature = checkpoint.sign(HEAD, key)

    for bad in (body[:-1], body + b"\n", b"", body + body):
        assert not checkpoint.signature_valid(bad, signature, key.public_key())


@pytest.mark.parametrize("length", [0, 32, 63, 65, 128])
def test_a_signature_of_the_wrong_length_is_invalid_not_an_error(
    key: Ed25519PrivateKey, length: int
) -> None:
    body, signature = checkpoint.sign(HEAD, key)

    assert not checkpoint.signature_valid(body, (signature * 2)[:length], key.public_key())


def test_another_key_does_not_verify_the_signature(key: Ed25519PrivateKey) -> None:
    body, signature = checkpoint.sign(HEAD, key)
    other = Ed25519PrivateKey.generate()

    assert not checkpoint.signature_valid(body, signature, other.public_key())


def test_raw_public_key_is_the_32_bytes_inside_the_standard_encoding(
    key: Ed25519PrivateKey,
) -> None:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    raw = checkpoint.raw_public_key(key.public_key())

    assert len(raw) == 32
    assert der.endswith(raw) and len(der) == 44  # SubjectPublicKeyInfo: 12-byte header


def test_a_public_key_survives_its_raw_form(key: Ed25519PrivateKey) -> None:
    raw = checkpoint.raw_public_key(key.public_key())
    body, signature = checkpoint.sign(HEAD, key)

    restored = checkpoint.public_key_from_raw(raw)

    assert checkpoint.raw_public_key(restored) == raw
    assert checkpoint.signature_valid(body, signature, restored)
    assert checkpoint.key_id(restored) == checkpoint.key_id(key.public_key())


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_public_key_from_raw_refuses_the_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        checkpoint.public_key_from_raw(b"\x01" * length)


def test_key_id_is_16_hex_digits_of_sha256_of_the_raw_key(key: Ed25519PrivateKey) -> None:
    raw = checkpoint.raw_public_key(key.public_key())

    kid = checkpoint.key_id(key.public_key())

    assert re.fullmatch(r"[0-9a-f]{16}", kid)
    assert kid == hashlib.sha256(raw).hexdigest()[:16]
    assert checkpoint.key_id(key.public_key()) == kid  # stable
    assert checkpoint.key_id(Ed25519PrivateKey.generate().public_key()) != kid


# -- the offline check in docs/audit.md ------------------------------------------------------


def test_the_documented_offline_check_of_an_entry_works(key: Ed25519PrivateKey) -> None:
    entries = [b'{"invented":%d}' % i for i in range(5)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    head = TreeHead(
        origin=ORIGIN, size=5, root=merkle.root_of_leaves(leaves), chain=CHAIN, time=TIME
    )
    note, signature = checkpoint.sign(head, key)
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    nodes |= {(1, 0): merkle.node_hash(leaves[0], leaves[1])}
    nodes |= {(1, 1): merkle.node_hash(leaves[2], leaves[3])}
    nodes |= {(2, 0): merkle.node_hash(nodes[(1, 0)], nodes[(1, 1)])}
    published_key = checkpoint.b64(checkpoint.raw_public_key(key.public_key()))
    proof = [checkpoint.b64(h) for h in merkle.hash_ranges(merkle.inclusion_ranges(3, 5), nodes)]

    # what a customer does with the three responses, as docs/audit.md shows it
    public_key = checkpoint.public_key_from_raw(checkpoint.unb64(published_key))
    assert checkpoint.signature_valid(note, signature, public_key)
    decoded = checkpoint.decode(note)
    leaf = merkle.leaf_hash(entries[3])
    assert merkle.verify_inclusion(
        3, decoded.size, leaf, [checkpoint.unb64(h) for h in proof], decoded.root
    )
    assert not merkle.verify_inclusion(
        3,
        decoded.size,
        merkle.leaf_hash(entries[2]),
        [checkpoint.unb64(h) for h in proof],
        decoded.root,
    )
