"""What the detector reports, and how overlapping candidates become one finding per span.

Kept free of Presidio so that masking and the types can be used without loading it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["Candidate", "Finding", "resolve"]


@dataclass(frozen=True)
class Finding:
    """One piece of PII: its entity type, character offsets into the text, and score.

    ``start`` and ``end`` index the Python ``str`` (code points, ``end`` exclusive), so
    ``text[f.start:f.end]`` is the value; the value itself is never held.
    """

    type: str
    start: int
    end: int
    score: float

    def to_json(self) -> dict[str, Any]:
        """``{"type", "start", "end", "score"}``, in that order (the scan contract)."""
        return {"type": self.type, "start": self.start, "end": self.end, "score": self.score}


@dataclass(frozen=True)
class Candidate:
    """A finding before overlap resolution, with the rank of its recognizer."""

    finding: Finding
    priority: int


def resolve(candidates: Iterable[Candidate]) -> list[Finding]:
    """One finding per span: no two kept findings share a character.

    Candidates are taken best first, and each is kept unless it overlaps one already
    kept. Best is: the highest score; then the longest span; then the recognizer listed
    first in the configuration; then the earliest start; then the type's name. The
    result is sorted by start.
    """
    ordered = sorted(
        candidates,
        key=lambda c: (
            -c.finding.score,
            -(c.finding.end - c.finding.start),
            c.priority,
            c.finding.start,
            c.finding.type,
        ),
    )
    starts: list[int] = []
    kept: list[Finding] = []
    for candidate in ordered:
        f = candidate.finding
        at = bisect.bisect_left(starts, f.end)
        # Kept spans do not overlap, so only the one starting last before f.end can.
        if at and kept[at - 1].end > f.start:
            continue
        starts.insert(at, f.start)
        kept.insert(at, f)
    return kept
