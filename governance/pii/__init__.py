"""PII detection for Chinese and English text, offline, with Presidio.

``analyze(text)`` returns the :class:`Finding` s in a text (entity type, character
offsets, score), one per span; ``mask`` and ``redact`` hide them; ``entity_types()``
lists what can be found. The recognizers (``governance/pii/recognizers/``, one per file)
load as ``governance/pii/recognizers.yaml`` says. The analyser is built on first use and
shared by the process (thread-safe); Presidio is not even imported before then.

``init_app`` registers ``governance pii scan`` and makes this detector the PII check of
the app's audit entries. Log lines are masked through the same detector
(:mod:`governance.logs`). See ``docs/pii.md``.
"""

from __future__ import annotations

import os

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")

from typing import TYPE_CHECKING

from flask import Flask

from governance.pii.findings import Finding
from governance.pii.masking import PLACEHOLDER, mask, redact

if TYPE_CHECKING:
    from audit.pii import PiiFinding

__all__ = [
    "PLACEHOLDER",
    "Finding",
    "analyze",
    "audit_detector",
    "entity_types",
    "init_app",
    "mask",
    "redact",
]


def analyze(text: str) -> list[Finding]:
    """Every piece of PII in ``text``, one finding per span, sorted by start.

    A text without a digit or an ``@`` (with the shipped recognizers) returns ``[]``
    without analysis; the first call in a process builds the analyser, whatever the text.
    """
    from governance.pii.engine import default_analyzer

    return default_analyzer().analyze(text)


def entity_types() -> list[str]:
    """The entity types ``analyze`` can report, sorted."""
    from governance.pii.engine import default_analyzer

    return default_analyzer().entity_types()


def audit_detector(text: str) -> list[PiiFinding]:
    """``analyze`` in the shape of :mod:`audit.pii`'s detector hook."""
    from audit.pii import PiiFinding

    return [PiiFinding(f.type, f.start, f.end) for f in analyze(text)]


def init_app(app: Flask) -> None:
    """Register ``governance pii``; make this the detector of the app's audit entries."""
    from audit.pii import set_detector
    from governance.pii.cli import pii_group

    app.cli.add_command(pii_group)
    set_detector(app, audit_detector)
