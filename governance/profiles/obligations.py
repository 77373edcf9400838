"""What a reader must do with an allowed value: the policy's obligations, applied.

The policies (``policies/governance/access/obligations.rego``) oblige the reader of an
allowed field to see it masked (``mask``, with a style named in the policy data), to see
free text with its personal information redacted (``redact``), or to pass a fresh second
factor first (``step_up``). The guarded read applies ``mask`` and ``redact`` here, to the
decrypted value, before anything leaves; ``step_up`` withholds the value instead
(:mod:`governance.profiles.guarded`).

Masks keep just enough to recognise a value in a conversation with its owner:

========== ======================== ========================
style      example (fictional)      masked
========== ======================== ========================
mobile     ``13800001234``          ``138****1234``
email      ``li.lei@example.com``   ``l*****@example.com``
bank_card  ``6222000000001234``     ``************1234``
(other)    anything                 ``****``
========== ======================== ========================

A value that is not a string (or too short to keep a part of) is masked whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["MASK", "apply", "mask_value", "redact_text"]

MASK = "****"


def _mask_mobile(value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    if len(digits) < 7:
        return MASK
    return "".join(digits[:3]) + MASK + "".join(digits[-4:])


def _mask_email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return MASK
    return local[0] + "*" * 5 + "@" + domain


def _mask_bank_card(value: str) -> str:
    digits = [c for c in value if c.isdigit()]
    if len(digits) < 8:
        return MASK
    return "*" * (len(digits) - 4) + "".join(digits[-4:])


_STYLES: dict[str, Callable[[str], str]] = {
    "mobile": _mask_mobile,
    "email": _mask_email,
    "bank_card": _mask_bank_card,
}


def mask_value(style: str, value: Any) -> Any:
    """``value`` masked in ``style`` (an unknown style or a non-string masks it whole)."""
    if value is None:
        return None
    masker = _STYLES.get(style)
    if masker is None or not isinstance(value, str):
        return MASK
    return masker(value)


def redact_text(value: Any) -> Any:
    """Free text with every piece of personal information the detector finds replaced.

    Non-strings are returned as they are (a free-text field holds strings only).
    """
    if not isinstance(value, str) or not value:
        return value
    from governance import pii

    return pii.redact(value, pii.analyze(value))


def apply(value: Any, obligations: Sequence[Mapping[str, Any]]) -> tuple[Any, list[str]]:
    """``value`` after the ``mask`` and ``redact`` obligations; and the types applied.

    ``step_up`` is not applied here: a value that needs it is withheld by the caller.
    An obligation of a type this code does not know withholds the value (fail closed):
    the caller sees it in the returned types and must not reveal the value.
    """
    applied: list[str] = []
    for obligation in obligations:
        kind = obligation.get("type")
        if kind == "mask":
            value = mask_value(str(obligation.get("style", "")), value)
        elif kind == "redact":
            value = redact_text(value)
        elif kind == "step_up":
            continue
        else:
            applied.append("unknown")
            continue
        applied.append(str(kind))
    return value, applied
