"""The audit PII hook: what the simple detector finds, and the one-pass fast path."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import pii

MOBILE = "13912345678"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"call {MOBILE} today", [("CN_MOBILE", 5, 16)]),
        (f"客户{MOBILE}", [("CN_MOBILE", 2, 13)]),
        ("+86-139-1234-5678", [("CN_MOBILE", 0, 17)]),
        ("mail li.wei@example.com", [("EMAIL_ADDRESS", 5, 23)]),
        ("身份证11010519491231002X。", [("CN_RESIDENT_ID", 3, 21)]),
        (f"{MOBILE}@example.com", [("EMAIL_ADDRESS", 0, 23), ("CN_MOBILE", 0, 11)]),
        ("order 2026112512345678", []),
        ("11010519491231002Y", []),
        ("12812345678", []),
        (f"x{MOBILE}", []),
        (f"{MOBILE}0", []),
    ],
)
def test_the_simple_detector(text: str, found: list[tuple[str, int, int]]) -> None:
    assert [(f.type, f.start, f.end) for f in pii.simple_detector(text)] == found


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**128 - 1))
def test_request_ids_as_the_app_makes_them_are_never_pii(value: int) -> None:
    token = uuid.UUID(int=value).hex
    assert pii.simple_detector(token) == []


def test_the_hex_tokens_most_like_a_phone_number_are_not_pii() -> None:
    assert pii.simple_detector(f"{MOBILE}{'a' * 21}") == []
    assert pii.simple_detector(f"{'a' * 21}{MOBILE}") == []
    assert pii.simple_detector(f"0a{MOBILE}b{MOBILE}") == []


_TEXT = st.text(alphabet=st.sampled_from("0123456789 -+@._abcXx客户号\n"), max_size=40)
_VALUES = st.recursive(
    _TEXT | st.integers(-5, 5) | st.none(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["resource", "details", "reasons"]), _VALUES))
def test_the_one_pass_check_finds_pii_exactly_when_some_string_holds_it(fields: dict) -> None:
    """The fast path (one detector call over every string joined) loses nothing."""
    per_string = [
        finding
        for name, value in fields.items()
        for _where, text in pii._strings(value, name)
        for finding in pii.simple_detector(text)
    ]
    assert bool(pii.find_pii(fields, pii.simple_detector)) == bool(per_string)
    assert len(pii.find_pii(fields, pii.simple_detector)) == len(per_string)


def test_a_finding_that_spans_two_strings_is_not_a_finding() -> None:
    def joined_only(text: str) -> list[pii.PiiFinding]:
        at = text.find("a\nb")
        return [] if at < 0 else [pii.PiiFinding("SPLIT", at, at + 3)]

    assert pii.find_pii({"details": {"x": "a", "y": "b"}}, joined_only) == []


def test_the_refusal_names_places_and_kinds_never_the_text() -> None:
    with pytest.raises(pii.PiiInAuditEntry) as refused:
        pii.check({"details": {"contact": {"mobile": f"({MOBILE})"}}})
    assert str(refused.value).startswith(
        "audit entry refused: it carries personal information "
        "(details.contact.mobile: CN_MOBILE at 1-12)"
    )
    assert MOBILE not in str(refused.value)
