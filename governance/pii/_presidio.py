"""Presidio, imported once, quietly and offline: every module here takes it from this one.

- ``TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS`` is set empty first, so tldextract (imported by
  Presidio's e-mail recognizer) never reaches for the public suffix list online.
- Presidio's logger is raised to WARNING first: it logs at INFO on import and on every
  call, and a log line written while a log line is being scanned cannot be scanned.
- spaCy, which Presidio imports, imports its command line too, and that raises
  deprecation warnings of its own dependencies; they are silenced for this import only
  (the test suite turns warnings into errors).

No spaCy model is loaded: the analyser runs Presidio's ``NoOpNlpEngine``.
"""

from __future__ import annotations

import logging
import os
import warnings

os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
logging.getLogger("presidio-analyzer").setLevel(logging.WARNING)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from presidio_analyzer import (
        AnalyzerEngine,
        EntityRecognizer,
        Pattern,
        PatternRecognizer,
        RecognizerRegistry,
        RecognizerResult,
    )
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers.generic.iban_patterns import (
        regex_per_country,
    )

__all__ = [
    "AnalyzerEngine",
    "ContextAwareEnhancer",
    "EntityRecognizer",
    "NoOpNlpEngine",
    "Pattern",
    "PatternRecognizer",
    "RecognizerRegistry",
    "RecognizerResult",
    "regex_per_country",
]
