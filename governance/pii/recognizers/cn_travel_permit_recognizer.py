"""Exit-entry permits between the mainland, Hong Kong, Macau and Taiwan.

========================================================== ============================
document                                                   number
========================================================== ============================
往来港澳通行证, mainland residents to HK/Macau (card, 2014+)   ``C`` + 8 characters: a digit
                                                           or letter (not I/O), 7 digits
往来台湾通行证, mainland residents to Taiwan (card, 2016+)     ``L`` + 8 digits
港澳居民来往内地通行证 ("home return permit")                 ``H`` (Hong Kong) or ``M``
                                                           (Macau) + 8 digits; older
                                                           booklets + 10 digits
台湾居民来往大陆通行证 ("台胞证", MTP)                         8 digits (card, 2015+) or 10
                                                           digits (older booklets)
========================================================== ============================

A letter and eight digits is also an order or part number, so these score 0.4 and are
reported only with a context word before them (通行证, 回乡证, permit, ...); the bare
digits of a Taiwan residents' permit score 0.2 and need one of its own names (台胞证,
台湾居民来往大陆通行证, MTP). Residence permits of Hong Kong, Macau and Taiwan residents
use 18-character numbers (prefixes 81, 82, 83) and are found as ``CN_RESIDENT_ID``.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, NOT_AFTER, NOT_BEFORE, Recognizer

__all__ = ["CnTravelPermitRecognizer"]


class CnTravelPermitRecognizer(Recognizer):
    """Mainland/HK/Macau/Taiwan exit-entry permit numbers, found with context."""

    ENTITY = "CN_TRAVEL_PERMIT"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        ("hk_macau_exit_entry", NOT_BEFORE + r"C[0-9A-HJ-NP-Z][0-9]{7}" + NOT_AFTER, 0.4),
        ("taiwan_exit_entry", NOT_BEFORE + r"L[0-9]{8}" + NOT_AFTER, 0.4),
        ("home_return", NOT_BEFORE + r"[HM][0-9]{8}(?:[0-9]{2})?" + NOT_AFTER, 0.4),
        ("taiwan_compatriot", NOT_BEFORE + r"[0-9]{8}(?:[0-9]{2})?" + NOT_AFTER, 0.2),
    )
    CONTEXT = (
        "通行证",
        "回乡证",
        "台胞证",
        "港澳",
        "台湾",
        "permit",
        "mtp",
    )
    PATTERN_CONTEXT: ClassVar[dict[str, tuple[str, ...]]] = {
        "taiwan_compatriot": ("台胞证", "台湾居民来往大陆通行证", "mtp"),
    }
    NEEDS = DIGITS
    WORD = r"[A-Z]{0,2}[0-9]{7,10}"
