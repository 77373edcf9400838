r"""International payment cards: Visa, Mastercard, American Express, JCB, Discover, Diners.

Presidio's ``CreditCardRecognizer`` is bounded by ``\b`` and so misses a card number
written right after Chinese text; this one has the same job with CJK-safe bounds and
brand prefixes of its own (UnionPay's ``62`` and ``81`` are ``CN_BANK_CARD``'s). The
number is 13-19 digits by brand, whole or in 4-4-4-4 (Amex 4-6-5) groups, and must pass
the Luhn check.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import (
    DIGITS,
    NOT_AFTER,
    NOT_BEFORE,
    Recognizer,
    luhn_valid,
)

__all__ = ["InternationalCardRecognizer"]

_WHOLE = (
    r"(?:4[0-9]{12}(?:[0-9]{3}){0,2}"  # Visa: 13, 16 or 19
    r"|5[1-5][0-9]{14}|2(?:2[2-9]|[3-6][0-9]|7[0-2])[0-9]{13}"  # Mastercard
    r"|3[47][0-9]{13}"  # American Express
    r"|35(?:2[89]|[3-8][0-9])[0-9]{12}"  # JCB
    r"|3(?:0[0-5]|[68][0-9])[0-9]{11}"  # Diners Club
    r"|6(?:011|5[0-9]{2}|4[4-9][0-9])[0-9]{12})"  # Discover
)
_GROUPED_IIN = (
    r"(?:4[0-9]{3}|5[1-5][0-9]{2}|2[2-7][0-9]{2}|35[0-9]{2}|6011|65[0-9]{2}|64[4-9][0-9])"
)


class InternationalCardRecognizer(Recognizer):
    """International card numbers by brand prefix and length, Luhn-checked."""

    ENTITY = "CREDIT_CARD"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("card_whole", NOT_BEFORE + _WHOLE + NOT_AFTER, 0.3),
        (
            "card_grouped",
            NOT_BEFORE + _GROUPED_IIN + r"([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}" + NOT_AFTER,
            0.3,
        ),
        ("amex_grouped", NOT_BEFORE + r"3[47][0-9]{2}([ -])[0-9]{6}\1[0-9]{5}" + NOT_AFTER, 0.3),
    )
    CONTEXT = ("信用卡", "卡号", "credit", "card", "visa", "mastercard", "amex")
    NEEDS = DIGITS
    WORD = r"[0-9]{4,19}"

    def validate_result(self, pattern_text: str) -> bool:
        """Luhn over the digits."""
        return luhn_valid("".join(ch for ch in pattern_text if ch.isdigit()))
