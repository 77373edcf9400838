"""CnLicensePlateRecognizer: ordinary and new-energy plates with a province character."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, spans

T = "CN_LICENSE_PLATE"

FOUND = [
    ("车牌京A12345的车", [(T, 2, 9)]),
    expect("粤B·D12345", (T, "粤B·D12345")),  # new energy, small
    expect("沪AD12345进场", (T, "沪AD12345")),
    expect("苏E12345D", (T, "苏E12345D")),  # new energy, large
    expect("浙A 1B2C3", (T, "浙A 1B2C3")),
    expect("挂车鲁A1234挂", (T, "鲁A1234挂")),
    expect("plate 川A12345 parked", (T, "川A12345")),
]

NOT_FOUND = [
    "京ABCDEF",  # no digit in the serial
    "京A1234",  # four characters
    "京A1234567",  # seven
    "京I12345",  # I is never used
    "北A12345",  # 北 is no province abbreviation
    "京a12345",  # lower case
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_plates_are_found_with_exact_spans(text: str, expected: list[tuple[str, int, int]]) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_plates(text: str) -> None:
    assert spans(text) == []
