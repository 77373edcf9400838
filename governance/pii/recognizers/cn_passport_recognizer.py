"""Passport numbers of the People's Republic of China.

- Ordinary electronic passports (since 2012): ``E`` + 8 digits, and, once those ran
  out, ``E`` + a letter (not I or O) + 7 digits; scored 0.5, reported on their own.
- Ordinary passports issued before 2012: ``G`` + 8 digits; 0.5.
- Diplomatic, service and public-affairs passports: ``D``, ``S`` or ``P`` (electronic:
  ``DE``, ``SE``, ``PE``) + 7 digits; 0.2, reported only after a context word (护照,
  passport), since a letter and seven digits is also a part or order number.

Hong Kong and Macau SAR passports (``K``/``H``/``MA`` series) are not covered.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, NOT_AFTER, NOT_BEFORE, Recognizer

__all__ = ["CnPassportRecognizer"]


class CnPassportRecognizer(Recognizer):
    """PRC passport numbers: E/G series alone, official series with context."""

    ENTITY = "CN_PASSPORT"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("ordinary", NOT_BEFORE + r"(?:E[0-9A-HJ-NP-Z]|G[0-9])[0-9]{7}" + NOT_AFTER, 0.5),
        ("official", NOT_BEFORE + r"[DSP]E?[0-9]{7}" + NOT_AFTER, 0.2),
    )
    CONTEXT = ("护照", "passport", "证件号")
    NEEDS = DIGITS
    WORD = r"[A-Z]{1,2}[0-9]{7,8}"
