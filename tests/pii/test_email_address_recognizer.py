"""EmailAddressRecognizer: ASCII addresses, Chinese text allowed on either side."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, spans

T = "EMAIL_ADDRESS"

FOUND = [
    ("邮箱li.wei@example.com联系", [(T, 2, 20)]),
    expect("mail to a.b+tag@mail.example.org.", (T, "a.b+tag@mail.example.org")),
    expect("<x_y@example.com>", (T, "x_y@example.com")),
    expect("用户WANG@EXAMPLE.COM的邮件", (T, "WANG@EXAMPLE.COM")),
    expect("a@example.com,b@example.org", (T, "a@example.com"), (T, "b@example.org")),
]

NOT_FOUND = [
    "li.wei@example",  # no top-level label
    "@example.com",  # no local part
    "li@.com",
    "li@example.c",  # one-letter top-level label
    "li@example.com2",
    "svc@internal",
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_addresses_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_addresses(text: str) -> None:
    assert spans(text) == []


def test_a_long_run_without_an_at_sign_is_scanned_in_linear_time() -> None:
    import time

    text = "a." * 50_000 + "@"
    started = time.perf_counter()
    assert spans(text) == []
    assert time.perf_counter() - started < 2
