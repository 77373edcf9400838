"""The configured analyser: recognizers from the config file, Presidio, the fast paths.

:class:`Analyzer` builds a Presidio ``AnalyzerEngine`` over the recognizers that
``recognizers.yaml`` lists, with a no-op NLP engine (no spaCy model is loaded or
downloaded) and no lemma-based context enhancer (each recognizer does its own, see
:mod:`governance.pii.recognizers.base`). :func:`default_analyzer` is the process-wide
instance, built on first use under a lock.

Two shortcuts keep the common case cheap, and both are exact:

1. Every recognizer declares characters of which every finding holds one (``NEEDS``).
   A text holding none of the union of those characters (with the shipped recognizers:
   no digit and no ``@``) cannot hold a finding and is not analysed. If any configured
   recognizer promises nothing (``NEEDS = ""``), this shortcut is off.
2. Most recognizers also declare the shape of an ASCII word that every finding of
   theirs holds (``WORD``: all digits, digits and upper-case letters, up to four hex
   digits, ...). One pass of a regex joining those shapes decides whether any of them
   can match; the hex request ids and digests in audit details and log lines are lower
   case and long, and fit none.
3. A finding needs a match of one of its recognizer's patterns; the remaining
   recognizers' compiled patterns are tried first, and Presidio runs only the
   recognizers with a match, or not at all.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from governance.pii._presidio import (
    AnalyzerEngine,
    ContextAwareEnhancer,
    NoOpNlpEngine,
    RecognizerRegistry,
)
from governance.pii.findings import Candidate, Finding, resolve
from governance.pii.recognizers import recognizer_classes
from governance.pii.recognizers.base import LANGUAGE, NOT_AFTER, NOT_BEFORE

__all__ = ["DEFAULT_CONFIG", "Analyzer", "RecognizerSpec", "default_analyzer", "load_config"]

DEFAULT_CONFIG = Path(__file__).resolve().parent / "recognizers.yaml"


@dataclass(frozen=True)
class RecognizerSpec:
    """One line of the configuration: which recognizer, reporting what, from what score."""

    recognizer: str
    entity: str | None
    threshold: float


def load_config(path: Path = DEFAULT_CONFIG) -> list[RecognizerSpec]:
    """The enabled recognizers of a configuration file, in its order."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    default = float(data.get("default_threshold", 0.5))
    specs: list[RecognizerSpec] = []
    for item in data.get("recognizers") or []:
        unknown = set(item) - {"recognizer", "entity", "threshold", "enabled"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)} in {item!r}")
        if not item.get("enabled", True):
            continue
        threshold = float(item.get("threshold", default))
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"{path}: threshold {threshold} is not between 0 and 1")
        specs.append(RecognizerSpec(str(item["recognizer"]), item.get("entity"), threshold))
    if not specs:
        raise ValueError(f"{path}: no recognizer is enabled")
    return specs


class _NoContextEnhancer(ContextAwareEnhancer):
    """Leaves scores as the recognizers set them (they handle context themselves)."""

    def __init__(self) -> None:
        super().__init__(0.0, 0.0, 0, 0)

    def enhance_using_context(
        self, text: str, raw_results: list[Any], *args: Any, **kwargs: Any
    ) -> list[Any]:
        """The results, untouched."""
        return raw_results


class Analyzer:
    """Presidio over the configured recognizers, with the fast paths and overlap rule."""

    def __init__(self, specs: list[RecognizerSpec]) -> None:
        classes = recognizer_classes()
        unknown = [s.recognizer for s in specs if s.recognizer not in classes]
        if unknown:
            raise ValueError(f"unknown recognizers in the PII configuration: {unknown}")
        self.recognizers = [classes[s.recognizer](s.entity, s.threshold) for s in specs]
        self.priority = {r.entity: i for i, r in reversed(list(enumerate(self.recognizers)))}
        needed = {ch for r in self.recognizers for ch in r.NEEDS}
        #: The characters one of which a text must hold to be analysed (None: every text).
        self.needs: frozenset[str] | None = (
            frozenset(needed) if all(r.NEEDS for r in self.recognizers) else None
        )
        self._trigger = (
            re.compile("[" + "".join(re.escape(ch) for ch in sorted(needed)) + "]")
            if self.needs is not None
            else None
        )
        words = sorted({r.WORD for r in self.recognizers if r.WORD})
        self._word = (
            re.compile(
                NOT_BEFORE + r"(?=[0-9A-Za-z_]*[0-9])(?:" + "|".join(words) + ")" + NOT_AFTER
            )
            if words
            else None
        )
        nlp = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "none"}])
        self.language = LANGUAGE
        self.engine = AnalyzerEngine(
            registry=RecognizerRegistry(
                recognizers=self.recognizers, supported_languages=[LANGUAGE]
            ),
            nlp_engine=nlp,
            supported_languages=[LANGUAGE],
            context_aware_enhancer=_NoContextEnhancer(),
        )
        # Every recognizer once, so Presidio compiles its patterns here, not in racing threads.
        self.engine.analyze(text="warm-up 13800000000 a@example.com", language=LANGUAGE)

    def entity_types(self) -> list[str]:
        """The entity types the configured recognizers report, sorted."""
        return sorted({r.entity for r in self.recognizers})

    def may_hold_pii(self, text: str) -> bool:
        """False if ``text`` holds none of the characters every finding needs."""
        return self._trigger is None or self._trigger.search(text) is not None

    def analyze(self, text: str) -> list[Finding]:
        """Every finding in ``text``, one per span, sorted by start."""
        if not text or not self.may_hold_pii(text):
            return []
        worded = self._word is not None and self._word.search(text) is not None
        entities = [
            r.entity for r in self.recognizers if (worded or not r.WORD) and r.may_match(text)
        ]
        if not entities:
            return []
        results = self.engine.analyze(text=text, language=self.language, entities=entities)
        return resolve(
            Candidate(
                Finding(r.entity_type, r.start, r.end, round(float(r.score), 2)),
                self.priority.get(r.entity_type, len(self.priority)),
            )
            for r in results
        )


_LOCK = threading.Lock()
_DEFAULT: Analyzer | None = None


def default_analyzer() -> Analyzer:
    """The process-wide analyser of the shipped configuration, built once, thread-safe."""
    global _DEFAULT
    analyzer = _DEFAULT
    if analyzer is None:
        with _LOCK:
            analyzer = _DEFAULT
            if analyzer is None:
                analyzer = _DEFAULT = Analyzer(load_config())
    return analyzer
