"""CnMobileRecognizer: mainland mobile numbers, whole or grouped, with country codes."""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import pytest

from tests.pii.fictional import expect, spans

T = "CN_MOBILE"
M = "13900001234"
M2 = "17700005678"

FOUND = [
    ("请拨打13900001234联系", [(T, 3, 14)]),  # Chinese on both sides, no spaces
    expect(f"手机号码：{M}。", (T, M)),
    expect("mobile: 139 0000 1234, thanks", (T, "139 0000 1234")),
    expect("客服电话 +86 139-0000-1234", (T, "+86 139-0000-1234")),
    expect("0086-13900001234", (T, "0086-13900001234")),
    expect("(+86)13900001234", (T, "(+86)13900001234")),
    expect("电话+8613900001234", (T, "+8613900001234")),
    expect(f"号码{M}、{M2}", (T, M), (T, M2)),
    expect(
        f"Call 李先生 at {M} or mail li@example.com", (T, M), ("EMAIL_ADDRESS", "li@example.com")
    ),
    expect(f"{M}\n{M2}", (T, M), (T, M2)),
]

NOT_FOUND = [
    "12900001234",  # 12x is no mobile prefix
    "1390000123",  # ten digits
    "139000012345",  # twelve digits
    f"x{M}",  # a letter before
    f"{M}x",  # a letter after
    f"order_{M}",  # inside an opaque id
    f"5f{M}a0c3e9f0b1d2c3e4f5a6b7c8d9",  # inside a hex token
    "139-00001-234",  # wrong grouping
    "139 0000 12345",  # last group too long
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_mobile_numbers_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_mobile_numbers(text: str) -> None:
    assert spans(text) == []


def test_a_context_word_raises_the_score() -> None:
    from governance import pii

    [bare] = pii.analyze(f"见 {M}")
    [with_context] = pii.analyze(f"手机 {M}")
    assert bare.score == 0.6
    assert with_context.score == 0.95
