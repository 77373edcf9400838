"""The fast paths skip only texts that cannot hold a finding, and they follow the config.

The analyser skips a text without any character that every finding of every recognizer
holds (``NEEDS``: a digit or ``@``), and the recognizers whose word shape (``WORD``) no
ASCII word of the text has. Both are promises a recognizer makes about its own findings;
here every valid example of every recognizer's test table is checked against them, so
a recognizer that breaks its promise (or a new one that makes a false one) fails here.
"""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import pytest

from governance import pii
from governance.pii.engine import Analyzer, RecognizerSpec, default_analyzer, load_config
from governance.pii.recognizers import Recognizer, recognizer_classes

TESTS = Path(__file__).resolve().parent
_WORDS = re.compile(r"[0-9A-Za-z_]+")


def _table(module: str) -> list[tuple[str, list[tuple[str, int, int]]]]:
    found: list[tuple[str, list[tuple[str, int, int]]]] = importlib.import_module(
        f"tests.pii.test_{module}"
    ).FOUND
    return found


def _examples() -> list[tuple[type[Recognizer], str]]:
    """(recognizer class, text of one of its findings) for every valid example."""
    out = []
    for cls in recognizer_classes().values():
        for text, expected in _table(cls.__module__.rsplit(".", 1)[1]):
            out += [(cls, text[s:e]) for kind, s, e in expected if kind == cls.ENTITY]
    return out


EXAMPLES = _examples()


def test_every_recognizer_has_a_test_module_with_valid_examples() -> None:
    for cls in recognizer_classes().values():
        module = cls.__module__.rsplit(".", 1)[1]
        assert (TESTS / f"test_{module}.py").exists(), module
        assert any(c is cls for c, _ in EXAMPLES), f"{module} has no valid example"


@pytest.mark.parametrize(("cls", "value"), EXAMPLES, ids=lambda v: getattr(v, "__name__", v))
def test_every_valid_example_holds_a_character_its_recognizer_needs(
    cls: type[Recognizer], value: str
) -> None:
    assert cls.NEEDS, f"{cls.__name__} promises nothing: the fast path would be off"
    assert any(ch in value for ch in cls.NEEDS)


@pytest.mark.parametrize(("cls", "value"), EXAMPLES, ids=lambda v: getattr(v, "__name__", v))
def test_every_valid_example_holds_a_word_of_its_recognizers_shape(
    cls: type[Recognizer], value: str
) -> None:
    if cls.WORD is None:
        return
    words = [w for w in _WORDS.findall(value) if any(ch.isdigit() for ch in w)]
    assert any(re.fullmatch(cls.WORD, w) for w in words), (value, cls.WORD)


def test_the_shipped_configuration_needs_a_digit_or_an_at_sign() -> None:
    assert default_analyzer().needs == frozenset("0123456789@")


def test_a_text_without_a_needed_character_never_reaches_presidio(monkeypatch: Any) -> None:
    analyzer = default_analyzer()

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("Presidio ran")

    monkeypatch.setattr(analyzer.engine, "analyze", fail)
    assert pii.analyze("订单已发货，请查收。Order shipped, tracking to follow.") == []
    assert pii.analyze("request a3f9c0d2e4b6a8c0d2e4f6a8b0c2d4e6 done") == []  # a hex id
    with pytest.raises(AssertionError, match="Presidio ran"):
        pii.analyze("13900001234")


def test_a_recognizer_that_promises_nothing_turns_the_shortcut_off(monkeypatch: Any) -> None:
    class AnyWordRecognizer(Recognizer):
        ENTITY = "CODENAME"
        PATTERNS = (("codename", r"Magpie", 0.9),)
        NEEDS = ""

    classes = {**recognizer_classes(), "AnyWordRecognizer": AnyWordRecognizer}
    monkeypatch.setattr("governance.pii.engine.recognizer_classes", lambda: classes)
    specs = [*load_config(), RecognizerSpec("AnyWordRecognizer", None, 0.5)]
    analyzer = Analyzer(specs)
    assert analyzer.needs is None
    assert [f.type for f in analyzer.analyze("Project Magpie")] == ["CODENAME"]
