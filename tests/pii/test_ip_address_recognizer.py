"""IpAddressRecognizer: IPv4 and IPv6 (documentation ranges), loopback excepted."""

from __future__ import annotations

import pytest

from tests.pii.fictional import expect, spans

T = "IP_ADDRESS"

FOUND = [
    ("服务器192.0.2.1宕机", [(T, 3, 12)]),
    expect("from 198.51.100.23:8080", (T, "198.51.100.23")),
    expect("IPv6 2001:db8::1 up", (T, "2001:db8::1")),
    expect("地址2001:db8:0:0:1:0:0:1。", (T, "2001:db8:0:0:1:0:0:1")),
    expect("mapped ::ffff:192.0.2.128 here", (T, "::ffff:192.0.2.128")),
    expect("10.0.0.1 and 192.0.2.255.", (T, "10.0.0.1"), (T, "192.0.2.255")),
]

NOT_FOUND = [
    "256.1.1.1",  # no such octet
    "1.2.3.4.5",  # a version, not an address
    "192.0.2",
    "127.0.0.1",  # loopback
    "0.0.0.0",  # noqa: S104 - unspecified, not a binding
    "::1",
    "12:30:45",  # a time
    "abcd::ef",  # no digit at all
    "v1.2.3.4",  # inside a token
]


@pytest.mark.parametrize(("text", "expected"), FOUND)
def test_addresses_are_found_with_exact_spans(
    text: str, expected: list[tuple[str, int, int]]
) -> None:
    assert spans(text) == expected


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_addresses(text: str) -> None:
    assert spans(text) == []
