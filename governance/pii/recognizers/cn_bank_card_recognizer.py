"""Bank cards issued in mainland China: UnionPay numbers with a valid Luhn check digit.

Covered: IIN ranges ``62`` (China UnionPay, the range every mainland bank's UnionPay
debit and credit cards use) and ``81`` (UnionPay's newer range), 16 to 19 digits, written
whole or in groups of four split by one kind of separator (``6222 0212 3456 7890 123``).
JR/T 0008 (bank card issuer identification numbers and card numbers) makes the last digit
a Luhn check digit; a number that fails it is not reported.

Not covered: the pre-UnionPay domestic numbers (``9558...`` and the like), withdrawn in
the migration to chip cards; Visa, Mastercard, JCB and American Express co-branded cards
of mainland banks, which :mod:`international_card_recognizer` finds as ``CREDIT_CARD``.
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

__all__ = ["CnBankCardRecognizer"]

_IIN = r"(?:62|81)[0-9]{2}"


class CnBankCardRecognizer(Recognizer):
    """UnionPay card numbers (IIN 62 and 81), 16-19 digits, Luhn-checked."""

    ENTITY = "CN_BANK_CARD"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("unionpay", NOT_BEFORE + _IIN + r"[0-9]{12,15}" + NOT_AFTER, 0.5),
        (
            "unionpay_grouped",
            NOT_BEFORE + _IIN + r"([ -])[0-9]{4}\1[0-9]{4}\1[0-9]{4}(?:\1[0-9]{1,3})?" + NOT_AFTER,
            0.5,
        ),
    )
    CONTEXT = ("银行卡", "卡号", "账号", "借记卡", "信用卡", "card", "account")
    NEEDS = DIGITS
    WORD = r"[0-9]{4,19}"

    def validate_result(self, pattern_text: str) -> bool:
        """Luhn over the digits."""
        return luhn_valid("".join(ch for ch in pattern_text if ch.isdigit()))
