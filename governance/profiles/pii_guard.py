"""The PII guard on write: free text may hold only the personal information it is meant to.

A catalog field marked ``free_text`` is scanned (:mod:`governance.pii`) before it is
stored. Personal information of a type the field does not list in ``pii_allowed`` is
either refused (``pii_on_write: reject``, the default: a ``validation-error`` naming the
field, the entity types and their character spans, never the text) or masked before it
is encrypted (``pii_on_write: mask``). On read, the policy's ``redact`` obligation scrubs
free text again for every reader (:mod:`governance.profiles.obligations`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from governance.errors import ApiError

__all__ = ["FreeTextSpec", "guard_free_text"]


class FreeTextSpec(Protocol):
    """What the guard needs to know about a field (read-only)."""

    @property
    def name(self) -> str:
        """The field's name."""

    @property
    def free_text(self) -> bool:
        """Whether it holds free text (only free text is scanned)."""

    @property
    def pii_on_write(self) -> str:
        """``reject`` or ``mask``."""

    @property
    def pii_allowed(self) -> tuple[str, ...]:
        """Entity types the field may hold."""


def guard_free_text(
    specs: Mapping[str, FreeTextSpec], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """``values`` with the PII of ``mask`` fields masked, and the names of those fields.

    Raises a ``validation-error`` naming every ``reject`` field that holds PII it may
    not (entity types and spans only); nothing is changed or written then.
    """
    out = dict(values)
    masked: list[str] = []
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None or not spec.free_text or not isinstance(value, str) or not value:
            continue
        from governance import pii

        found = [f for f in pii.analyze(value) if f.type not in spec.pii_allowed]
        if not found:
            continue
        if spec.pii_on_write == "mask":
            out[name] = pii.mask(value, found)
            masked.append(name)
        else:
            spans = "; ".join(f"{f.type} at {f.start}-{f.end}" for f in found)
            errors[name] = [f"Holds personal information this field may not hold: {spans}."]
    if errors:
        raise ApiError(
            "validation-error",
            "Some free-text fields hold personal information they may not hold: "
            f"{', '.join(sorted(errors))}.",
            errors=errors,
        )
    return out, masked
