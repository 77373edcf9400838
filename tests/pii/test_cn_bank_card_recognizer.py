"""CnBankCardRecognizer: UnionPay numbers (62, 81), 16-19 digits, Luhn."""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import pytest

from tests.pii.fictional import expect, group4, luhn, spans, wrong_last

T = "CN_BANK_CARD"
CARD16 = luhn("622202000000001")
CARD19 = luhn("621700000000000012")
CARD81 = luhn("810000000000045")

FOUND = [
    expect(f"卡号{CARD16}请核对", (T, CARD16)),
    expect(f"借记卡：{group4(CARD16)}。", (T, group4(CARD16))),
    expect(f"card {group4(CARD19, '-')} ok", (T, group4(CARD19, "-"))),
    expect(f"银行卡{CARD19}", (T, CARD19)),
    expect(f"UnionPay {CARD81}", (T, CARD81)),
    expect(f"{CARD16}\n{CARD19}", (T, CARD16), (T, CARD19)),
]

NOT_FOUND = [
    wrong_last(CARD16),  # Luhn fails
    wrong_last(CARD19),
    luhn("62220200000001"),  # fifteen digits
    luhn("6222020000000000001"),  # twenty digits
    "6222 0200-0000 0001",  # mixed separators
    luhn("632202000000001"),  # 63 is not a UnionPay range
    "x" + CARD16,  # inside a token
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_unionpay_cards_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_bank_cards(text: str) -> None:
    assert spans(text) == []
