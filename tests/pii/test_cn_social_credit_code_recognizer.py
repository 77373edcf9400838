"""CnSocialCreditCodeRecognizer: 18 characters of GB 32100-2015, with its check."""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import pytest

from tests.pii.fictional import expect, social_credit_code, spans

T = "CN_SOCIAL_CREDIT_CODE"
COMPANY = social_credit_code("91110108MA01ABC2X")
SOLE_TRADER = social_credit_code("92440300L12345678")
CHARITY = social_credit_code("53100000500021676")


def _other_check(code: str) -> str:
    return code[:17] + ("1" if code[17] != "1" else "2")


FOUND = [
    expect(f"统一社会信用代码：{COMPANY}", (T, COMPANY)),
    expect(f"个体户{SOLE_TRADER}的经营者", (T, SOLE_TRADER)),
    expect(f"USCC {CHARITY}.", (T, CHARITY)),
]

NOT_FOUND = [
    _other_check(COMPANY),  # check character wrong
    _other_check(SOLE_TRADER),
    COMPANY.lower(),  # the standard's codes are upper case
    COMPANY[:17],  # seventeen characters
    COMPANY + "1",  # nineteen
    COMPANY.replace("MA01", "MO01"),  # O is not in the code's alphabet
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_codes_are_found_with_exact_spans(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_codes(text: str) -> None:
    assert spans(text) == []
