r"""What every recognizer shares: declarative patterns, CJK-safe bounds, context by window.

A recognizer is a Presidio :class:`~presidio_analyzer.PatternRecognizer` whose class
declares what it finds:

``ENTITY``
    the entity type it reports (the configuration may rename it);
``PATTERNS``
    ``(name, regex, score)`` triples, compiled with ``FLAGS`` (the ``regex`` module, as
    Presidio uses; no ``IGNORECASE`` unless a recognizer asks for it);
``CONTEXT``
    words (Chinese or English, lower case) that raise a match's score by
    ``CONTEXT_BOOST`` when one appears in the ``CONTEXT_WINDOW`` characters before it;
``PATTERN_CONTEXT``
    context words of one pattern (by name), in place of ``CONTEXT`` for its matches;
``NEEDS``
    characters of which every finding holds at least one (``DIGITS``, ``"@"``), or ``""``
    for no such promise. The analyser's fast path is derived from it: a text holding none
    of the needed characters of any configured recognizer is not analysed at all;
``WORD``
    a regex that some ASCII word (a maximal run of ``[0-9A-Za-z_]``) holding a digit
    inside every finding matches whole, or ``None`` for no such promise. A text without
    such a word skips the recognizers that made one (most audit details and log lines:
    their digits sit in lower-case hex ids).

Checksums and other checks go in Presidio's hooks: ``validate_result`` (True: the score
becomes 1.0; False: the match is dropped) and ``invalidate_result`` (True: dropped).

Bounds: Python's ``\b`` treats CJK characters as word characters, so ``请拨打13812345678``
has no word boundary before the ``1``. Patterns are bounded with :data:`NOT_BEFORE` and
:data:`NOT_AFTER` instead: no ASCII letter, digit or underscore may touch a match, while
any other character (CJK, punctuation, space, line break) may.

Context: with no NLP model there are no tokens or lemmas, so Presidio's
``LemmaContextAwareEnhancer`` never sees a context word in the text (only words passed
explicitly to ``analyze(context=...)``). Chinese has no spaces to split on anyway. Each
recognizer therefore looks for its context words as substrings of the few characters
before a match (Presidio's own "substring" matching, over characters instead of lemmas),
which works the same for ``手机号码138...`` and ``mobile: 138...``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import regex

from governance.pii._presidio import EntityRecognizer, Pattern, PatternRecognizer
from governance.pii._presidio import RecognizerResult as PresidioResult

__all__ = ["DIGITS", "LANGUAGE", "NOT_AFTER", "NOT_BEFORE", "Recognizer", "luhn_valid"]

#: The one language the analyser runs in: spaCy's code for "multi-language". Patterns do
#: not depend on the language, and a text is often Chinese and English at once.
LANGUAGE = "xx"
NOT_BEFORE = r"(?<![0-9A-Za-z_])"
NOT_AFTER = r"(?![0-9A-Za-z_])"
DIGITS = "0123456789"


def luhn_valid(digits: str) -> bool:
    """Whether a string of digits passes the Luhn (mod 10) check (ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class Recognizer(PatternRecognizer):
    """A pattern recognizer declared by class constants (see the module docstring)."""

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[tuple[tuple[str, str, float], ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    PATTERN_CONTEXT: ClassVar[dict[str, tuple[str, ...]]] = {}
    NEEDS: ClassVar[str]
    WORD: ClassVar[str | None] = None
    FLAGS: ClassVar[int] = regex.DOTALL | regex.MULTILINE
    CONTEXT_WINDOW: ClassVar[int] = 32
    CONTEXT_BOOST: ClassVar[float] = 0.35

    def __init__(self, entity: str | None = None, threshold: float | None = None) -> None:
        super().__init__(
            supported_entity=entity or self.ENTITY,
            name=type(self).__name__,
            supported_language=LANGUAGE,
            patterns=[Pattern(name, rx, score) for name, rx, score in self.PATTERNS],
            context=[word.lower() for word in self.CONTEXT],
            global_regex_flags=self.FLAGS,
        )
        self.entity: str = self.supported_entities[0]
        if threshold is not None:
            self.score_thresholds = {self.entity: threshold}
        self._compiled = [regex.compile(rx, self.FLAGS) for _n, rx, _s in self.PATTERNS]

    def may_match(self, text: str) -> bool:
        """Whether any pattern matches somewhere in ``text`` (no match: no finding)."""
        return any(rx.search(text) is not None for rx in self._compiled)

    def enhance_using_context(
        self,
        text: str,
        raw_recognizer_results: list[PresidioResult],
        other_raw_recognizer_results: list[PresidioResult],
        nlp_artifacts: Any,
        context: list[str] | None = None,
    ) -> list[PresidioResult]:
        """Raise the score of matches that follow one of ``CONTEXT`` closely."""
        if not self.context and not self.PATTERN_CONTEXT:
            return raw_recognizer_results
        given = " ".join(context or []).lower()
        for result in raw_recognizer_results:
            if result.score >= EntityRecognizer.MAX_SCORE:
                continue
            explanation = result.analysis_explanation
            pattern = explanation.pattern_name if explanation is not None else None
            words = self.PATTERN_CONTEXT.get(pattern or "", self.context or ())
            window = text[max(0, result.start - self.CONTEXT_WINDOW) : result.start].lower()
            if any(word in window or word in given for word in words):
                result.score = min(EntityRecognizer.MAX_SCORE, result.score + self.CONTEXT_BOOST)
                result.recognition_metadata[PresidioResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
        return raw_recognizer_results
