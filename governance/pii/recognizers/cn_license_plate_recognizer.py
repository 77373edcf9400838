"""Mainland China vehicle licence plates (GA 36-2018).

A province-level abbreviation (京, 沪, 粤, ... 31 of them), the letter of the issuing
authority (not I or O), an optional separator (``·``, ``•``, space or hyphen), then:

- ordinary plates: five letters or digits (no I or O), the last possibly 挂 (trailer),
  学 (driving school), 警 (police), 港/澳 (cross-border) or 领 (consulate);
- new-energy plates: six, either a letter A-K (D, F, ...) then a letter or digit and
  four digits (small vehicles), or five digits then a letter A-K (large vehicles).

A plate whose serial holds no digit (``京ABCDEF``) is not reported: real serials carry
digits, and so the recognizer can promise a digit to the fast path. Matching is case
sensitive (plates are upper case). Military, armed-police and embassy (使) plates are
not covered.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, NOT_AFTER, Recognizer

__all__ = ["CnLicensePlateRecognizer"]

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "[A-HJ-NP-Z]"
_LD = "[A-HJ-NP-Z0-9]"
_HEAD = f"[{PROVINCES}]{_L}[·• -]?"


class CnLicensePlateRecognizer(Recognizer):
    """Ordinary and new-energy plates with a province abbreviation."""

    ENTITY = "CN_LICENSE_PLATE"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        (
            "new_energy",
            _HEAD + f"(?:[A-HJK]{_LD}[0-9]{{4}}|[0-9]{{5}}[A-HJK])" + NOT_AFTER,
            0.6,
        ),
        ("ordinary", _HEAD + _LD + "{4}" + f"(?:{_LD}|[挂学警港澳领])" + NOT_AFTER, 0.6),
    )
    CONTEXT = ("车牌", "牌照", "车辆", "号牌", "plate", "vehicle")
    NEEDS = DIGITS
    WORD = r"[0-9A-Z]{4,7}"

    def invalidate_result(self, pattern_text: str) -> bool:
        """A serial without a digit is not a plate."""
        return not any(ch.isdigit() for ch in pattern_text)
