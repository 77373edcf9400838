"""The PII check every audit entry passes before it is written.

Audit entries reference people by opaque id, never by value. Every string in an entry's
details (keys included) and its free-form columns goes through the app's detector; any
finding refuses the whole entry with :class:`PiiInAuditEntry`, which names where and what
kind of PII was found, never the text itself.

The detector is a hook: :func:`simple_detector` (e-mail addresses, mainland mobile
numbers, resident ID numbers with a valid check digit) is the default, and the PII
issue's Presidio analyser replaces it with :func:`set_detector`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context

_EXTENSION = "audit.pii_detector"


@dataclass(frozen=True)
class PiiFinding:
    """One piece of PII: its entity type and character offsets, never its text."""

    type: str
    start: int
    end: int


Detector = Callable[[str], Sequence[PiiFinding]]


@dataclass(frozen=True)
class Located:
    """A finding in an entry: where (``details.note``, ``resource``) and what."""

    where: str
    finding: PiiFinding

    def describe(self) -> str:
        """``details.note: EMAIL_ADDRESS at 4-21``."""
        f = self.finding
        return f"{self.where}: {f.type} at {f.start}-{f.end}"


class PiiInAuditEntry(ValueError):
    """An audit entry that carries PII; nothing was written."""

    def __init__(self, found: Sequence[Located]) -> None:
        self.found = list(found)
        listed = "; ".join(item.describe() for item in self.found)
        super().__init__(
            f"audit entry refused: it carries personal information ({listed}); "
            "reference people by opaque id, never by value"
        )


# Digits are bounded by look-arounds, not \b, which fails beside CJK characters.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CN_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9])")
_CN_RESIDENT_ID = re.compile(r"(?<![0-9])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _resident_id_valid(text: str) -> bool:
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17].upper()


def simple_detector(text: str) -> list[PiiFinding]:
    """E-mail addresses, mainland mobile numbers and resident ID numbers in ``text``."""
    found = [PiiFinding("EMAIL_ADDRESS", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    found += [PiiFinding("CN_MOBILE", m.start(), m.end()) for m in _CN_MOBILE.finditer(text)]
    found += [
        PiiFinding("CN_RESIDENT_ID", m.start(), m.end())
        for m in _CN_RESIDENT_ID.finditer(text)
        if _resident_id_valid(m.group())
    ]
    return found


def set_detector(app: Flask, detector: Detector) -> None:
    """Make ``detector`` the PII check of ``app``'s audit entries."""
    app.extensions[_EXTENSION] = detector


def get_detector() -> Detector:
    """The current app's detector (the simple one outside an app)."""
    if has_app_context():
        detector: Detector = current_app.extensions.get(_EXTENSION, simple_detector)
        return detector
    return simple_detector


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{where} key", str(key)
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}[{i}]")


def find_pii(fields: Mapping[str, Any], detector: Detector | None = None) -> list[Located]:
    """Every PII finding in ``fields`` (column name -> value, details nested)."""
    detect = detector or get_detector()
    found: list[Located] = []
    for name, value in fields.items():
        for where, text in _strings(value, name):
            found += [Located(where, finding) for finding in detect(text)]
    return found


def check(fields: Mapping[str, Any], detector: Detector | None = None) -> None:
    """Raise :class:`PiiInAuditEntry` if ``fields`` carry any PII."""
    found = find_pii(fields, detector)
    if found:
        raise PiiInAuditEntry(found)
