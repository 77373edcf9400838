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


# The local part starts where a run of its characters starts: tried at every position, the
# pattern would rescan each run (quadratic in its length).
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
# Numbers are bounded like ASCII words: no ASCII letter, digit or underscore may touch
# them, so a run of digits inside a token (a hex digest, a request id, an opaque id) is not
# a phone number, while one beside Chinese text still is (Python's \b would treat CJK as
# word characters and miss it).
_CN_MOBILE = re.compile(
    r"(?<![0-9A-Za-z_])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9A-Za-z_])"
)
_CN_RESIDENT_ID = re.compile(r"(?<![0-9A-Za-z_])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z_])")
#: Every number the two patterns above find holds ten characters of digits, single spaces
#: or hyphens from its first digit on; text without such a run needs neither pattern.
_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{9}")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _resident_id_valid(text: str) -> bool:
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11] == text[17].upper()


def simple_detector(text: str) -> list[PiiFinding]:
    """E-mail addresses, mainland mobile numbers and resident ID numbers in ``text``."""
    found = (
        [PiiFinding("EMAIL_ADDRESS", m.start(), m.end()) for m in _EMAIL.finditer(text)]
        if "@" in text
        else []
    )
    if _DIGIT_RUN.search(text) is None:
        return found
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


def _texts(value: Any, out: list[str]) -> None:
    """Every string in ``value`` (keys included), without their places: the fast path."""
    kind = type(value)
    if kind is str:
        out.append(value)
    elif kind is dict or isinstance(value, Mapping):
        for key, item in value.items():
            out.append(str(key))
            _texts(item, out)
    elif kind is list or kind is tuple:
        for item in value:
            _texts(item, out)


#: Joins the strings of an entry for one pass of the detector. No pattern of the simple
#: detector crosses a line break, so the joined text holds a finding only if some string
#: does; a finding there is confirmed string by string, with its place.
_JOIN = "\n"


def find_pii(fields: Mapping[str, Any], detector: Detector | None = None) -> list[Located]:
    """Every PII finding in ``fields`` (column name -> value, details nested).

    An entry without PII, the usual case, costs one detector call over all its strings
    joined; only when that finds something is each string examined on its own, to say
    where. A finding of the joined text that no single string holds (a detector whose
    pattern spans the separator) is not a finding.
    """
    detect = detector or get_detector()
    texts: list[str] = []
    _texts(fields, texts)
    if not texts or not detect(_JOIN.join(texts)):
        return []
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
