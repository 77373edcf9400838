"""Unified Social Credit Codes of organisations (GB 32100-2015): 18 characters.

One character of registration authority, one of organisation type, six digits of
administrative division, nine of organisation code and one check character, all from
the 31 characters ``0-9A-HJ-NP-RTUWXY`` (no I, O, S, V, Z). The check character is
``31 - (sum of value * 3^i mod 31) mod 31`` over the first 17; a code that fails it is
not reported. Codes are upper case by the standard, and matched as such.

An organisation's code is not personal information in itself, but the code of a sole
proprietorship (个体工商户, codes starting ``92``) identifies its owner, and the code is
what ties a person to a company in free text; the guard treats it as PII.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, NOT_AFTER, NOT_BEFORE, Recognizer

__all__ = ["CnSocialCreditCodeRecognizer", "social_credit_check_char"]

_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUE = {ch: i for i, ch in enumerate(_CHARS)}
_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
_C = "[0-9A-HJ-NP-RTUW-Y]"


def social_credit_check_char(first17: str) -> str:
    """The GB 32100-2015 check character of the first 17 characters."""
    total = sum(_VALUE[ch] * w for ch, w in zip(first17, _WEIGHTS, strict=True))
    return _CHARS[(31 - total % 31) % 31]


class CnSocialCreditCodeRecognizer(Recognizer):
    """18-character Unified Social Credit Codes with a valid check character."""

    ENTITY = "CN_SOCIAL_CREDIT_CODE"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        (
            "cn_uscc",
            NOT_BEFORE + r"[1-9A-HNY][1-9A-HJ-NP-RTUW-Y][0-9]{6}" + _C + "{10}" + NOT_AFTER,
            0.5,
        ),
    )
    CONTEXT = (
        "统一社会信用代码",
        "信用代码",
        "社会信用",
        "营业执照",
        "税号",
        "uscc",
        "credit code",
    )
    NEEDS = DIGITS
    WORD = r"[0-9A-Z]{18}"

    def validate_result(self, pattern_text: str) -> bool:
        """GB 32100-2015 check character."""
        return social_credit_check_char(pattern_text[:17]) == pattern_text[17]
