"""InternationalCardRecognizer: international brands by prefix and length, Luhn."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, luhn, spans, wrong_last

T = "CREDIT_CARD"
VISA = luhn("411111111111111")  # the brands' published test numbers have this shape
MASTERCARD = luhn("555555555555444")
AMEX = luhn("37828224631000")
JCB = luhn("353011133330000")

FOUND = [
    expect(f"信用卡{VISA}到期", (T, VISA)),
    expect("Visa 4111 1111 1111 1111.", (T, "4111 1111 1111 1111")),
    expect(f"mastercard: {MASTERCARD}", (T, MASTERCARD)),
    expect(
        f"运通卡{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}", (T, f"{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}")
    ),
    expect(f"JCB卡{JCB}", (T, JCB)),
]

NOT_FOUND = [
    wrong_last(VISA),  # Luhn fails
    luhn("41111111111111"),  # fifteen digits: no Visa length
    "4111-1111 1111-1111",  # mixed separators
    luhn("911111111111111"),  # no brand starts with 9
    f"id_{VISA}",  # inside a token
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_cards_are_found_with_exact_spans(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_cards(text: str) -> None:
    assert spans(text) == []
