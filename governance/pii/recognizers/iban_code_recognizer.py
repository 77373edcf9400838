"""International Bank Account Numbers (ISO 13616).

Presidio's pattern and per-country formats (``presidio_analyzer``'s ``iban_patterns``),
bounded so that Chinese text may touch the number, with the ISO 7064 MOD 97-10 check
done here: Presidio's own ``IbanRecognizer`` logs the text it failed to validate, and a
log line is no place for an account number. Upper case, whole or in groups of four.
"""

from __future__ import annotations

from typing import ClassVar

import regex

from governance.pii._presidio import regex_per_country
from governance.pii.recognizers.base import DIGITS, Recognizer

__all__ = ["IbanCodeRecognizer"]

_FORMATS = {code: regex.compile(rf"^{rx}$") for code, rx in regex_per_country.items()}


def iban_valid(compact: str) -> bool:
    """Known country format and MOD 97-10 remainder 1."""
    country = _FORMATS.get(compact[:2])
    if country is None or country.match(compact) is None:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1


class IbanCodeRecognizer(Recognizer):
    """IBANs with a known country format and a valid check."""

    ENTITY = "IBAN_CODE"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        (
            "iban",
            r"(?<![A-Za-z0-9_])[A-Z]{2}[0-9]{2}(?:[ -]?[A-Z0-9]{4}){2,7}(?:[ -]?[A-Z0-9]{1,3})?"
            r"(?![A-Za-z0-9_])",
            0.5,
        ),
    )
    CONTEXT = ("iban", "bank", "银行", "账户", "transaction")
    NEEDS = DIGITS
    WORD = r"[0-9A-Z]{4,34}"

    def validate_result(self, pattern_text: str) -> bool:
        """Country format and check digits."""
        return iban_valid(pattern_text.replace(" ", "").replace("-", ""))
