r"""E-mail addresses, bounded so that Chinese text may touch them (``邮箱li@example.com``).

Presidio's ``EmailRecognizer`` starts its local part with ``\b`` and ``\w``, which
take the Chinese characters before an address into the match; it also asks tldextract
about the suffix, which may reach for the network. This one takes ASCII local parts
(letters, digits, ``._%+-``) and dotted host names ending in a letters-only top-level
label; internationalised addresses are not covered. The local part starts where a run of
its characters starts, so a long run is scanned once, not once per position.
"""

from __future__ import annotations

from typing import ClassVar

from governance.pii.recognizers.base import Recognizer

__all__ = ["EmailAddressRecognizer"]


class EmailAddressRecognizer(Recognizer):
    """ASCII e-mail addresses."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]] = (
        (
            "email",
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@"
            r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
            r"(?![A-Za-z0-9-])",
            0.9,
        ),
    )
    CONTEXT = ("邮箱", "邮件", "email", "e-mail", "mail")
    NEEDS = "@"
