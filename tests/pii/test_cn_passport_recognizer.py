"""CnPassportRecognizer: E/G series on their own, official series after a context word."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, spans

T = "CN_PASSPORT"

FOUND = [
    ("护照号E12345678", [(T, 3, 12)]),
    expect("passport: EA1234567", (T, "EA1234567")),
    expect("旧护照G12345678已过期", (T, "G12345678")),
    expect("E12345678", (T, "E12345678")),  # the ordinary series needs no context
    expect("外交护照DE1234567", (T, "DE1234567")),
    expect("service passport S1234567", (T, "S1234567")),
]

NOT_FOUND = [
    "E1234567",  # seven digits
    "E123456789",  # nine
    "EI1234567",  # I is never used
    "xE12345678",  # inside a token
    "e12345678",  # lower case
    "P1234567",  # an official series without context: a part number
    "零件号P1234567",
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_passports_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_passports(text: str) -> None:
    assert spans(text) == []
