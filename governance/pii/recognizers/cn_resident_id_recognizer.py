"""Resident identity card numbers of the PRC (GB 11643-1999): 18 characters.

Six digits of administrative division (the first two a province-level code, 11 to 82,
83 for Taiwan residents' residence permits), eight of birth date, three of sequence and
an ISO 7064 MOD 11-2 check character (``0``-``9`` or ``X``). A match is reported only if
the check character is right and the birth date is a real date between 1900-01-01 and
today. The 15-digit numbers issued before 1999 have no check digit and are not covered.
"""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, NOT_AFTER, NOT_BEFORE, Recognizer

__all__ = ["CnResidentIdRecognizer", "resident_id_check_char"]

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
_PROVINCE = r"(?:1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5]|71|8[1-3])"


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


class CnResidentIdRecognizer(Recognizer):
    """18-character resident ID numbers with a valid check character and birth date."""

    ENTITY = "CN_RESIDENT_ID"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        (
            "cn_resident_id",
            NOT_BEFORE
            + _PROVINCE
            + r"[0-9]{4}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
            + r"[0-9]{3}[0-9Xx]"
            + NOT_AFTER,
            0.5,
        ),
    )
    CONTEXT = ("身份证", "证件", "公民身份号码", "id card", "identity")
    NEEDS = DIGITS
    WORD = r"[0-9]{17}[0-9Xx]"

    def validate_result(self, pattern_text: str) -> bool:
        """Check character right and birth date real, not in the future."""
        if resident_id_check_char(pattern_text[:17]) != pattern_text[17].upper():
            return False
        try:
            born = dt.date(
                int(pattern_text[6:10]), int(pattern_text[10:12]), int(pattern_text[12:14])
            )
        except ValueError:
            return False
        return dt.date(1900, 1, 1) <= born <= dt.date.today()
