"""CnTravelPermitRecognizer: HK/Macau/Taiwan exit-entry permits, found with context."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, spans

T = "CN_TRAVEL_PERMIT"

FOUND = [
    ("港澳通行证C12345678", [(T, 5, 14)]),
    expect("往来港澳通行证号码CA1234567", (T, "CA1234567")),
    expect("台湾通行证L12345678", (T, "L12345678")),
    expect("回乡证H12345678", (T, "H12345678")),
    expect("Home return permit: M1234567801", (T, "M1234567801")),
    expect("台胞证12345678", (T, "12345678")),
    expect("MTP 1234567890", (T, "1234567890")),
]

NOT_FOUND = [
    "C12345678",  # a letter and eight digits alone: an order number as likely
    "L12345678",
    "订单号12345678",  # eight digits without the Taiwan permit's own names
    "港澳通行证12345678",  # a permit word, but not the Taiwan permit's
    "回乡证H1234567",  # seven digits
    "通行证C123456789",  # nine digits
    "通行证CI1234567",  # I is never used
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_permits_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_permits(text: str) -> None:
    assert spans(text) == []
