"""Fictional PII for the detector's tests: invented digits completed with valid checks.

Nothing here is a real person's number. Check digits are computed, not copied, so a
test can make a valid value from any invented prefix and its invalid twin by changing
the last character. E-mail addresses use ``example.com``/``example.org``; IP addresses
are the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32).
"""

from __future__ import annotations

from governance import pii

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def resident_id(area: str, born: str, seq: str) -> str:
    """An 18-character resident ID with its MOD 11-2 check character."""
    body = area + born + seq
    assert len(body) == 17
    total = sum(int(d) * w for d, w in zip(body, _ID_WEIGHTS, strict=True))
    return body + "10X98765432"[total % 11]


def resident_id_ending_in_x() -> str:
    """A fictional resident ID whose check character is X."""
    return next(
        rid
        for n in range(1000)
        if (rid := resident_id("440305", "19880816", f"{n:03d}")).endswith("X")
    )


def social_credit_code(body: str) -> str:
    """A Unified Social Credit Code: 17 characters and their GB 32100 check."""
    assert len(body) == 17
    total = sum(_USCC_CHARS.index(ch) * pow(3, i, 31) for i, ch in enumerate(body))
    return body + _USCC_CHARS[(31 - total % 31) % 31]


def luhn(body: str) -> str:
    """``body`` followed by its Luhn check digit."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    """An IBAN with its MOD 97-10 check digits."""
    numeric = "".join(str(int(ch, 36)) for ch in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def wrong_last(value: str) -> str:
    """``value`` with a different last digit (a failed check, whatever the scheme)."""
    last = value[-1]
    return value[:-1] + ("0" if last != "0" else "1")


def group4(digits: str, sep: str = " ") -> str:
    """``6222 0200 ...``: digits in groups of four."""
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def spans(text: str) -> list[tuple[str, int, int]]:
    """What the detector finds in ``text``, as (type, start, end)."""
    return [(f.type, f.start, f.end) for f in pii.analyze(text)]


def expect(text: str, *found: tuple[str, str]) -> tuple[str, list[tuple[str, int, int]]]:
    """A table row: ``text`` and the (type, start, end) of each (type, value), in order."""
    out: list[tuple[str, int, int]] = []
    at = 0
    for kind, value in found:
        start = text.index(value, at)
        out.append((kind, start, start + len(value)))
        at = start + len(value)
    return text, out
