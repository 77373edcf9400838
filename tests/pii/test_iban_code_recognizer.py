"""IbanCodeRecognizer: country format and MOD 97-10 check, Chinese text allowed around."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, group4, iban, spans

T = "IBAN_CODE"
DE = iban("DE", "370400440532013000")
GB = iban("GB", "WEST12345698765432")

FOUND = [
    expect(f"账户{DE}。", (T, DE)),
    expect(f"IBAN: {group4(GB)}", (T, group4(GB))),
    expect(f"pay {DE} today", (T, DE)),
]

NOT_FOUND = [
    DE[:2] + f"{(int(DE[2:4]) + 1) % 100:02d}" + DE[4:],  # check digits wrong
    "XX" + DE[2:],  # no such country
    DE.lower(),
    DE[:-1],  # too short for Germany
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_ibans_are_found_with_exact_spans(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_ibans(text: str) -> None:
    assert spans(text) == []
