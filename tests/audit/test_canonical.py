"""Canonical JSON of audit entries: the exact bytes hashed into the log.

The bytes must be RFC 8785 (JCS) for every value an entry may hold, so they are compared
with an independent JCS written here: for ASCII keys, strings, safe integers, booleans,
null, arrays and objects, ``json.dumps`` with sorted keys, no whitespace and no ASCII
escaping writes exactly what JCS writes. Every value with no canonical form must be
refused with :class:`~audit.canonical.CanonicalError`, naming where it sits.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import json
import types
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import canonical
from audit.canonical import MAX_DEPTH, MAX_SAFE_INT, CanonicalError


def jcs(value: Any) -> bytes:
    """RFC 8785 for values without floats and with ASCII keys (the independent reference)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _depth(value: Any) -> int:
    """The depth of the most deeply nested value, the top value at depth 0."""
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=-1)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=-1)
    return 0


def _nested(depth: int, innermost: Any, *, kind: str) -> Any:
    """``innermost`` wrapped in ``depth`` lists or objects."""
    value = innermost
    for _ in range(depth):
        value = [value] if kind == "list" else {"k": value}
    return value


# Strings without lone surrogates (they have no UTF-8 form; see the test of them below).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
KEYS = st.text(st.characters(codec="ascii"), max_size=8)
SCALARS = (
    st.none() | st.booleans() | st.integers(min_value=-MAX_SAFE_INT, max_value=MAX_SAFE_INT) | TEXT
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
PROPERTY = settings(max_examples=200, deadline=None, database=None)


# -- the canonical form ---------------------------------------------------------------------


def test_keys_are_sorted_at_every_level_and_there_is_no_whitespace() -> None:
    value = {"zeta": {"b": 2, "a": [True, None, "x"]}, "alpha": 1, "Beta": False}

    assert canonical.canonical(value) == (
        b'{"Beta":false,"alpha":1,"zeta":{"a":[true,null,"x"],"b":2}}'
    )


def test_non_ascii_text_is_written_as_utf8_not_escaped() -> None:
    text = "Zoë 张伟 🙂 \u2028"

    out = canonical.canonical({"name": text})

    assert out == b'{"name":"' + text.encode("utf-8") + b'"}'
    assert b"\\u" not in out


def test_only_what_json_requires_is_escaped_as_jcs_does() -> None:
    text = '\x00\x08\t\n\x0c\r\x1f"\\/\x7f'

    out = canonical.canonical(text)

    assert out == b'"\\u0000\\b\\t\\n\\f\\r\\u001f\\"\\\\/\x7f"'
    assert out == jcs(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, b"null"),
        (True, b"true"),
        (False, b"false"),
        (0, b"0"),
        (-17, b"-17"),
        (MAX_SAFE_INT, b"9007199254740991"),
        (-MAX_SAFE_INT, b"-9007199254740991"),
        ("", b'""'),
        ([], b"[]"),
        ({}, b"{}"),
        ((1, "a"), b'[1,"a"]'),
    ],
)
def test_scalars_and_empty_containers(value: Any, expected: bytes) -> None:
    assert canonical.canonical(value) == expected


@PROPERTY
@given(value=JSON_VALUES)
def test_canonical_is_jcs_for_every_value_an_entry_may_hold(value: Any) -> None:
    if _depth(value) > MAX_DEPTH:
        return  # refused; covered by the depth tests

    assert canonical.canonical(value) == jcs(value)


@settings(max_examples=60, deadline=None, database=None)
@given(items=st.dictionaries(KEYS, JSON_VALUES, max_size=6), seed=st.randoms())
def test_the_bytes_do_not_depend_on_insertion_order(items: dict[str, Any], seed: Any) -> None:
    if _depth(items) > MAX_DEPTH:
        return
    shuffled = list(items.items())
    seed.shuffle(shuffled)

    assert canonical.canonical(dict(shuffled)) == canonical.canonical(items)
    assert canonical.canonical(dict(reversed(items.items()))) == canonical.canonical(items)


INNERMOST = [1, "x", None, True, [], {}]


@pytest.mark.parametrize("innermost", INNERMOST, ids=repr)
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_values_nested_max_depth_deep_are_accepted(kind: str, innermost: Any) -> None:
    value = _nested(MAX_DEPTH, innermost, kind=kind)

    assert canonical.canonical(value) == jcs(value)


@pytest.mark.parametrize("innermost", INNERMOST, ids=repr)
@pytest.mark.parametrize("kind", ["list", "dict"])
def test_values_nested_deeper_than_max_depth_are_refused(kind: str, innermost: Any) -> None:
    # The innermost value sits at depth MAX_DEPTH + 1 (the top value is at depth 0),
    # whatever its type.
    value = _nested(MAX_DEPTH + 1, innermost, kind=kind)

    with pytest.raises(CanonicalError, match=f"nested deeper than {MAX_DEPTH} levels"):
        canonical.canonical(value)


# -- refusals, each naming the place -------------------------------------------------------


@pytest.mark.parametrize("number", [0.0, 1.5, -0.0, 1e300, float("nan"), float("inf")])
def test_floats_are_refused(number: float) -> None:
    with pytest.raises(CanonicalError, match=r"^value: floats have no canonical form"):
        canonical.canonical(number)


@pytest.mark.parametrize("number", [2**53, -(2**53), 2**64, -(10**30)])
def test_integers_beyond_the_safe_range_are_refused(number: int) -> None:
    with pytest.raises(CanonicalError, match=r"^value: integer outside"):
        canonical.canonical(number)


@pytest.mark.parametrize("key", ["é", "名前", "key\u00a0", "\U0001f642"])
def test_non_ascii_keys_are_refused(key: str) -> None:
    with pytest.raises(CanonicalError, match="keys must be ASCII strings"):
        canonical.canonical({key: 1})


@pytest.mark.parametrize("key", [1, None, True, b"k", ("a",), 1.0])
def test_keys_that_are_not_strings_are_refused(key: Any) -> None:
    with pytest.raises(CanonicalError, match="keys must be ASCII strings"):
        canonical.canonical({key: 1})


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (b"bytes", "bytes"),
        (bytearray(b"x"), "bytearray"),
        ({"a", "b"}, "set"),
        (frozenset(), "frozenset"),
        (dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC), "datetime"),
        (dt.date(2026, 11, 25), "date"),
        (decimal.Decimal("1.10"), "Decimal"),
        (1j, "complex"),
        (object(), "object"),
    ],
)
def test_values_that_are_not_json_are_refused(value: Any, type_name: str) -> None:
    with pytest.raises(CanonicalError, match=rf"^value: {type_name} is not a JSON value$"):
        canonical.canonical(value)


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ({"a": [0, 1.5]}, "details.a[1]"),
        ({"a": {"b": {"c": b"raw"}}}, "details.a.b.c"),
        ({"ok": 1, "n": 2**60}, "details.n"),
        ([[], [{"x": {1, 2}}]], "details[1][0].x"),
        ({"a": {"é": 1}}, "details.a"),
        (_nested(MAX_DEPTH + 1, 1, kind="list"), "details" + "[0]" * (MAX_DEPTH + 1)),
    ],
)
def test_a_refusal_names_the_path_of_the_offending_value(value: Any, where: str) -> None:
    with pytest.raises(CanonicalError) as refused:
        canonical.canonical(value, path="details")

    assert str(refused.value).startswith(f"{where}: ")


def test_a_refusal_is_a_value_error() -> None:
    assert issubclass(CanonicalError, ValueError)


@pytest.mark.parametrize(
    "value", ["\ud800", {"note": "ok \udfff"}, ["fine", {"deep": "\udbff\udc00\ud800"}]]
)
def test_strings_with_lone_surrogates_are_refused_as_having_no_canonical_form(
    value: Any,
) -> None:
    # A lone surrogate has no UTF-8 encoding, hence no canonical bytes.
    with pytest.raises(CanonicalError):
        canonical.canonical(value, path="details")


Pair = collections.namedtuple("Pair", "first second")


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (types.MappingProxyType({"b": 1, "a": 2}), {"b": 1, "a": 2}),
        (collections.UserDict({"b": 1, "a": 2}), {"b": 1, "a": 2}),
        (collections.OrderedDict([("b", 1), ("a", 2)]), {"b": 1, "a": 2}),
        (Pair(1, "two"), [1, "two"]),
    ],
    ids=["mappingproxy", "UserDict", "OrderedDict", "namedtuple"],
)
def test_other_mappings_and_sequences_are_written_as_json_or_refused(
    value: Any, plain: Any
) -> None:
    # The checks accept any Mapping, list or tuple: either the bytes are those of the
    # plain value, or the value is refused as having no canonical form. Nothing else.
    try:
        out = canonical.canonical({"m": value})
    except CanonicalError:
        return

    assert out == canonical.canonical({"m": plain})


# -- entry bytes ---------------------------------------------------------------------------

ENTRY: dict[str, Any] = {
    "seq": 41,
    "time": "2026-11-25T10:00:00.123456Z",
    "actor_type": "service",
    "actor_id": "key_3f9a",
    "action": "profile.read",
    "subject": "sub_q3ZxY0b1c2d3e4f5g6h7iA",
    "purpose": "marketing_push",
    "resource": None,
    "decision": "allow",
    "reasons": "[]",
    "policy": None,
    "request_id": "5b0e6c1d9a8f4e21",
    "details": '{"fields":["mobile"]}',
}


def test_entry_bytes_are_the_example_in_the_documentation() -> None:
    # docs/audit.md, "An entry": the canonical form of this (invented) entry.
    documented = (
        b'{"action":"profile.read","actor":{"id":"key_3f9a","type":"service"},'
        b'"decision":"allow","details":{"fields":["mobile"]},"policy":null,'
        b'"purpose":"marketing_push","reasons":[],"request_id":"5b0e6c1d9a8f4e21",'
        b'"resource":null,"seq":41,"subject":"sub_q3ZxY0b1c2d3e4f5g6h7iA",'
        b'"time":"2026-11-25T10:00:00.123456Z","v":1}'
    )

    assert canonical.entry_bytes(**ENTRY) == documented


def _as_object(fields: dict[str, Any]) -> dict[str, Any]:
    """The entry object the columns ``fields`` stand for, as the documentation lays it out."""
    return {
        "v": 1,
        "seq": fields["seq"],
        "time": fields["time"],
        "actor": {"type": fields["actor_type"], "id": fields["actor_id"]},
        "action": fields["action"],
        "subject": fields["subject"],
        "purpose": fields["purpose"],
        "resource": fields["resource"],
        "decision": fields["decision"],
        "reasons": json.loads(fields["reasons"]),
        "policy": fields["policy"],
        "request_id": fields["request_id"],
        "details": json.loads(fields["details"]),
    }


def test_entry_bytes_are_jcs_of_the_entry_with_format_version_1() -> None:
    fields = {
        **ENTRY,
        "resource": "catalog:2026.11.1",
        "policy": "ab" * 32,
        "reasons": '["consent:withdrawn","purpose:unknown"]',
        "details": '{"count":3,"names":["Zoë","张伟"],"nested":{"a":true,"b":null}}',
    }
    expected = _as_object(fields)

    out = canonical.entry_bytes(**fields)

    assert json.loads(out) == expected
    assert out == jcs(expected)


def test_reasons_and_details_texts_are_embedded_verbatim() -> None:
    # Neither is canonical, so re-serialising them would show: they are embedded as given.
    details = '{"z":1, "a":"x"}'
    reasons = '[ "consent:withdrawn","purpose:unknown"]'

    out = canonical.entry_bytes(**{**ENTRY, "reasons": reasons, "details": details})

    assert b'"details":' + details.encode() + b',"policy"' in out
    assert b'"reasons":' + reasons.encode() + b',"request_id"' in out


def test_reasons_and_details_may_be_given_as_text_or_bytes() -> None:
    as_text = canonical.entry_bytes(**ENTRY)
    as_bytes = canonical.entry_bytes(
        **{**ENTRY, "reasons": ENTRY["reasons"].encode(), "details": ENTRY["details"].encode()}
    )

    assert as_bytes == as_text


@PROPERTY
@given(
    field=st.sampled_from(["reasons", "details"]),
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=6),
)
def test_a_changed_byte_in_stored_reasons_or_details_changes_the_entry_bytes(
    field: str, position: int, bit: int
) -> None:
    stored = {
        "reasons": b'["consent:withdrawn","purpose:unknown"]',
        "details": b'{"count":1204,"ok":true,"purpose":"marketing_push"}',
    }[field]
    i = position % len(stored)
    changed = stored[:i] + bytes([stored[i] ^ (1 << bit)]) + stored[i + 1 :]

    before = canonical.entry_bytes(**{**ENTRY, field: stored})
    after = canonical.entry_bytes(**{**ENTRY, field: changed})

    assert after != before
    assert b'"%s":%s,' % (field.encode(), changed) in after


@pytest.mark.parametrize(
    "field",
    ["time", "actor_type", "actor_id", "action", "subject", "purpose", "resource", "decision"],
)
def test_every_text_field_is_in_the_entry_bytes(field: str) -> None:
    changed = {**ENTRY, field: (ENTRY[field] or "") + "x"}

    out = canonical.entry_bytes(**changed)

    assert out != canonical.entry_bytes(**ENTRY)
    assert json.loads(out) == _as_object(changed)


def test_the_sequence_number_is_in_the_entry_bytes() -> None:
    assert json.loads(canonical.entry_bytes(**{**ENTRY, "seq": 42}))["seq"] == 42
    assert canonical.entry_bytes(**{**ENTRY, "seq": 42}) != canonical.entry_bytes(**ENTRY)


def test_absent_optional_fields_are_written_as_null() -> None:
    fields = {**ENTRY, "subject": None, "purpose": None, "request_id": None}

    out = canonical.entry_bytes(**fields)

    assert b'"subject":null' in out
    assert b'"purpose":null' in out
    assert b'"request_id":null' in out
    assert json.loads(out) == _as_object(fields)
