"""Mainland China mobile numbers: ``13812345678``, ``+86 138-1234-5678``, ``(+86)138...``.

Eleven digits starting ``13`` to ``19`` (every mobile number block the MIIT has issued),
written whole or as 3-4-4 groups split by spaces or hyphens, optionally after a ``+86``,
``0086`` or ``(+86)`` country code. No checksum exists, so a bare match scores 0.6 and a
nearby context word (手机, 电话, mobile, ...) raises it.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import DIGITS, NOT_AFTER, NOT_BEFORE, Recognizer

__all__ = ["CnMobileRecognizer"]


class CnMobileRecognizer(Recognizer):
    """Mainland mobile numbers, with or without country code and separators."""

    ENTITY = "CN_MOBILE"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        (
            "cn_mobile",
            NOT_BEFORE
            + r"(?:(?:\+|00)86[ -]?|\(\+?86\)[ -]?)?1[3-9][0-9](?:[ -]?[0-9]{4}){2}"
            + NOT_AFTER,
            0.6,
        ),
    )
    CONTEXT = ("手机", "电话", "联系", "拨打", "致电", "号码", "mobile", "phone", "tel", "call")
    NEEDS = DIGITS
    WORD = r"[0-9]{2,15}"
