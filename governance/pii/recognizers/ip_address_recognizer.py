"""IPv4 and IPv6 addresses.

IPv4: four decimal octets 0-255, not inside a longer dotted run (``1.2.3.4.5`` is a
version, not an address); scored 0.6, as Presidio does. IPv6: a candidate of hex groups
and colons (an embedded IPv4 tail allowed) that :mod:`ipaddress` must accept; then 1.0.

Not reported: loopback (``127.0.0.0/8``, ``::1``) and unspecified (``0.0.0.0``, ``::``)
addresses, which point at no one; an IPv6 address written without a single digit
(``abcd::ef``), so the recognizer can promise a digit to the fast path.
"""

from __future__ import annotations

import ipaddress
from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, Recognizer

__all__ = ["IpAddressRecognizer"]

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_V4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_H = "[0-9A-Fa-f]"


class IpAddressRecognizer(Recognizer):
    """IPv4 and IPv6 addresses, loopback and unspecified excepted."""

    ENTITY = "IP_ADDRESS"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("ipv4", r"(?<![0-9A-Za-z_.])" + _V4 + r"(?![0-9A-Za-z_]|\.[0-9])", 0.6),
        (
            "ipv6",
            r"(?<![0-9A-Za-z_:.])"
            + rf"(?:{_H}{{0,4}}:){{2,7}}(?:{_V4}|{_H}{{1,4}})?"
            + r"(?![0-9A-Za-z_:]|\.[0-9])",
            0.5,
        ),
    )
    CONTEXT = ("ip", "地址", "address", "host")
    NEEDS = DIGITS
    WORD = r"[0-9A-Fa-f]{1,4}"

    def validate_result(self, pattern_text: str) -> bool | None:
        """IPv6 candidates must parse; IPv4 matches are valid by their pattern."""
        if "." in pattern_text and ":" not in pattern_text:
            return None
        try:
            ipaddress.IPv6Address(pattern_text)
        except ValueError:
            return False
        return True

    def invalidate_result(self, pattern_text: str) -> bool:
        """Loopback, unspecified and digit-less addresses are not reported."""
        if not any(ch.isdigit() for ch in pattern_text):
            return True
        try:
            address = ipaddress.ip_address(pattern_text)
        except ValueError:
            return True
        return address.is_loopback or address.is_unspecified
