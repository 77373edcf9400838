"""recognizers.yaml decides which recognizers load, their entity names and thresholds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from governance import pii
from governance.pii.engine import DEFAULT_CONFIG, Analyzer, load_config
from governance.pii.recognizers import recognizer_classes


def test_the_shipped_configuration_loads_every_recognizer() -> None:
    assert {s.recognizer for s in load_config()} == set(recognizer_classes())


def test_entity_types_lists_what_the_configuration_reports() -> None:
    assert pii.entity_types() == sorted(s.entity or "" for s in load_config())
    assert "CN_MOBILE" in pii.entity_types()


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "recognizers.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_disabled_recognizer_is_not_loaded(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "recognizers:\n"
        "  - {recognizer: CnMobileRecognizer, enabled: false}\n"
        "  - {recognizer: EmailAddressRecognizer}\n",
    )
    analyzer = Analyzer(load_config(path))
    assert analyzer.entity_types() == ["EMAIL_ADDRESS"]
    assert analyzer.analyze("13900001234 li@example.com") == [
        pii.Finding("EMAIL_ADDRESS", 12, 26, 0.9)
    ]
    assert analyzer.needs == frozenset("@")  # the fast path follows the configuration


def test_the_entity_name_and_threshold_come_from_the_configuration(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "default_threshold: 0.7\n"
        "recognizers:\n"
        "  - {recognizer: CnMobileRecognizer, entity: PHONE}\n"
        "  - {recognizer: EmailAddressRecognizer, threshold: 0.95}\n",
    )
    analyzer = Analyzer(load_config(path))
    assert analyzer.analyze("见13900001234 li@example.com") == []  # 0.6 < 0.7, 0.9 < 0.95
    assert [f.type for f in analyzer.analyze("手机13900001234")] == ["PHONE"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("recognizers:\n  - {recognizer: NoSuchRecognizer}\n", "unknown recognizers"),
        ("recognizers:\n  - {recognizer: EmailAddressRecognizer, colour: red}\n", "unknown keys"),
        (
            "recognizers:\n  - {recognizer: EmailAddressRecognizer, threshold: 2}\n",
            "between 0 and 1",
        ),
        ("recognizers: []\n", "no recognizer"),
    ],
)
def test_a_wrong_configuration_is_refused(tmp_path: Path, body: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Analyzer(load_config(_config(tmp_path, body)))


def test_the_default_configuration_is_the_packaged_file() -> None:
    assert DEFAULT_CONFIG.name == "recognizers.yaml"
    assert DEFAULT_CONFIG.parent.name == "pii"


def test_no_recognizer_shares_a_class_name_with_one_of_presidios() -> None:
    # Presidio finds its predefined recognizers by class name among every subclass of
    # EntityRecognizer: a namesake here would be built in place of Presidio's own.
    from governance.pii._presidio import EntityRecognizer

    def subclasses(cls: type) -> set[type]:
        return set(cls.__subclasses__()).union(*(subclasses(c) for c in cls.__subclasses__()))

    theirs = {
        c.__name__ for c in subclasses(EntityRecognizer) if c.__module__.startswith("presidio")
    }
    assert theirs, "Presidio's recognizers were not found"
    assert not set(recognizer_classes()) & theirs


def test_the_process_wide_analyzer_is_built_once_whatever_the_threads(monkeypatch: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from governance.pii import engine

    monkeypatch.setattr(engine, "_DEFAULT", None)
    with ThreadPoolExecutor(max_workers=8) as pool:
        built = list(pool.map(lambda _: engine.default_analyzer(), range(16)))
    assert len({id(a) for a in built}) == 1
    with ThreadPoolExecutor(max_workers=8) as pool:
        found = list(pool.map(lambda n: pii.analyze(f"手机1390000{n:04d}"), range(64)))
    assert all(len(f) == 1 and f[0].type == "CN_MOBILE" for f in found)
