"""The engine interface: decisions parsed strictly, every engine failure denies."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from policies import PolicyService
from policies.engine import (
    ENGINE_ERROR,
    ENTRYPOINT,
    EmbeddedEngine,
    EngineError,
    PolicySource,
    parse_result,
)

FIELDS = [{"name": "mobile"}, {"name": "city"}]
QUESTION = {"fields": FIELDS, "x": 1}


def _source(tmp_path: Path, decision: str, data: dict[str, Any] | None = None) -> PolicySource:
    """A policy folder whose entry point is ``decision := <decision>``."""
    folder = tmp_path / "governance" / "access"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "access.rego").write_text(
        "package governance.access\n\nimport rego.v1\n\n" + decision + "\n"
    )
    (folder / "data.json").write_text(json.dumps(data or {"limit": 1}))
    return PolicySource.load(tmp_path)


ALLOW_ALL = (
    'decision := {"fields": {f.name: {"allow": true, "reasons": [], "obligations": []}'
    ' | some f in input.fields}, "flags": []}'
)


def _denied_for_engine_error(decision: Any) -> None:
    assert decision.error
    assert set(decision.fields) == {"mobile", "city"}
    for one in decision.fields.values():
        assert (one.allow, one.reasons, one.obligations) == (False, (ENGINE_ERROR,), ())


def test_a_policy_that_allows_is_parsed(tmp_path: Path) -> None:
    engine = EmbeddedEngine(_source(tmp_path, ALLOW_ALL))
    decision = engine.decide(QUESTION)
    assert decision.allowed == ["mobile", "city"] and not decision.error
    assert decision.bundle_hash == engine.bundle_hash and len(engine.bundle_hash) == 64


def test_an_undefined_entry_point_denies(tmp_path: Path) -> None:
    engine = EmbeddedEngine(_source(tmp_path, 'decision := {"fields": {}} if input.never'))
    _denied_for_engine_error(engine.decide(QUESTION))


def test_a_runtime_error_denies(tmp_path: Path) -> None:
    # object.get on a string, and a division by zero: Rego runtime errors.
    engine = EmbeddedEngine(_source(tmp_path, "decision := 1 / (input.x - 1)"))
    _denied_for_engine_error(engine.decide(QUESTION))


def test_an_engine_that_raises_denies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = EmbeddedEngine(_source(tmp_path, ALLOW_ALL))

    def broken(bundle: Any, entrypoint: str, policy_input: Any) -> Any:
        raise EngineError("simulated")

    monkeypatch.setattr(engine, "_evaluate", broken)
    _denied_for_engine_error(engine.decide(QUESTION))


def test_a_decision_over_the_time_limit_denies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = EmbeddedEngine(_source(tmp_path, ALLOW_ALL))
    real = engine._evaluate

    def slow(bundle: Any, entrypoint: str, policy_input: Any) -> Any:
        time.sleep(0.05)
        return real(bundle, entrypoint, policy_input)

    monkeypatch.setattr(engine, "_evaluate", slow)
    service = PolicyService(engine, timeout_ms=10, reload=False)
    _denied_for_engine_error(service.decide(QUESTION))
    assert PolicyService(engine, timeout_ms=1000, reload=False).decide(QUESTION).allowed == [
        "mobile",
        "city",
    ]


@pytest.mark.parametrize(
    "result",
    [
        None,
        [],
        {"fields": []},
        {"fields": {"mobile": {"allow": True}}},  # city not answered
        {"fields": {"mobile": {"allow": "yes"}, "city": {"allow": True}}},
        {"fields": {"mobile": {"allow": True, "reasons": ["x"]}, "city": {"allow": True}}},
        {"fields": {"mobile": {"allow": True, "obligations": ["mask"]}, "city": {"allow": True}}},
        {"fields": {"mobile": {"allow": True}, "city": {"allow": True}}, "flags": "x"},
    ],
)
def test_a_malformed_result_denies_every_field(result: Any) -> None:
    decision = parse_result(result, ["mobile", "city"], "h" * 64)
    assert decision.error and not decision.allowed


def test_a_well_formed_result_keeps_reasons_sorted_and_drops_obligations_of_denials() -> None:
    result = {
        "fields": {
            "mobile": {"allow": True, "reasons": [], "obligations": [{"type": "mask"}]},
            "city": {"allow": False, "reasons": ["b", "a", "b"], "obligations": [{"x": 1}]},
        },
        "flags": ["z", "y"],
    }
    decision = parse_result(result, ["mobile", "city"], "h" * 64)
    assert decision.fields["mobile"].obligations == ({"type": "mask"},)
    assert (decision.fields["city"].reasons, decision.fields["city"].obligations) == (
        ("a", "b"),
        (),
    )
    assert decision.flags == ("y", "z")


def test_the_bundle_hash_covers_policies_and_data(tmp_path: Path) -> None:
    first = _source(tmp_path, ALLOW_ALL).bundle_hash
    same = PolicySource.load(tmp_path).bundle_hash
    changed_data = _source(tmp_path, ALLOW_ALL, {"limit": 2}).bundle_hash
    changed_rule = _source(tmp_path, ALLOW_ALL + "\nother := 1", {"limit": 2}).bundle_hash
    assert first == same
    assert len({first, changed_data, changed_rule}) == 3


def test_data_json_is_the_document_of_its_folder(tmp_path: Path) -> None:
    source = _source(tmp_path, "decision := data.governance.access.limit", {"limit": 7})
    assert source.data == {"governance": {"access": {"limit": 7}}}
    assert EmbeddedEngine(source).evaluate(ENTRYPOINT, {}) == 7


def test_a_policy_that_does_not_compile_is_refused_and_the_old_bundle_stays(
    tmp_path: Path,
) -> None:
    engine = EmbeddedEngine(_source(tmp_path, ALLOW_ALL))
    before = engine.bundle_hash
    with pytest.raises(Exception):  # noqa: B017 - regopy's compile error
        engine.load(_source(tmp_path, "decision := {"))
    assert engine.bundle_hash == before
    assert engine.decide(QUESTION).allowed == ["mobile", "city"]


# -- the result cache ----------------------------------------------------------------------

COUNTING = (
    'decision := {"fields": {f.name: {"allow": true, "reasons": [],'
    ' "obligations": [{"type": "mask", "n": input.x}]} | some f in input.fields}, "flags": []}'
)


def _counting(engine: EmbeddedEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every input that reaches regopy."""
    seen: list[Any] = []
    real = engine._evaluate

    def counted(bundle: Any, entrypoint: str, policy_input: Any) -> Any:
        seen.append(policy_input)
        return real(bundle, entrypoint, policy_input)

    monkeypatch.setattr(engine, "_evaluate", counted)
    return seen


def test_an_input_seen_before_is_answered_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = EmbeddedEngine(_source(tmp_path, COUNTING), cache_size=8)
    seen = _counting(engine, monkeypatch)
    first = engine.decide(QUESTION)
    again = engine.decide({"x": 1, "fields": [dict(f) for f in FIELDS]})  # same, keys reordered
    assert len(seen) == 1 and again == first
    other = engine.decide({**QUESTION, "x": 2})
    assert len(seen) == 2 and other.fields["mobile"].obligations == ({"type": "mask", "n": 2},)
    assert engine.cache_stats() == {"hits": 1, "misses": 2, "size": 2}


def test_a_caller_that_alters_its_decision_does_not_alter_the_next(
    tmp_path: Path,
) -> None:
    engine = EmbeddedEngine(_source(tmp_path, COUNTING), cache_size=8)
    first = engine.decide(QUESTION)
    first.fields["mobile"].obligations[0]["n"] = 99  # type: ignore[index]
    assert engine.decide(QUESTION).fields["mobile"].obligations == ({"type": "mask", "n": 1},)


def test_the_cache_keeps_its_size_and_drops_the_least_recent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = EmbeddedEngine(_source(tmp_path, COUNTING), cache_size=2)
    seen = _counting(engine, monkeypatch)
    for x in (1, 2, 1, 3, 1, 2):  # 1 stays (recently used), 2 is dropped by 3
        engine.decide({**QUESTION, "x": x})
    assert [q["x"] for q in seen] == [1, 2, 3, 2]
    assert engine.cache_stats()["size"] == 2


def test_a_new_bundle_starts_with_an_empty_cache(tmp_path: Path) -> None:
    engine = EmbeddedEngine(_source(tmp_path, ALLOW_ALL), cache_size=8)
    assert engine.decide(QUESTION).allowed == ["mobile", "city"]
    engine.load(_source(tmp_path, 'decision := {"fields": {}, "flags": []}'))
    decision = engine.decide(QUESTION)
    assert decision.allowed == [] and decision.bundle_hash == engine.bundle_hash
    assert engine.cache_stats()["hits"] == 0


def test_failures_are_not_cached_and_the_cache_can_be_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = EmbeddedEngine(_source(tmp_path, "decision := 1 / (input.x - 1)"), cache_size=8)
    seen = _counting(engine, monkeypatch)
    for _ in range(2):
        _denied_for_engine_error(engine.decide(QUESTION))
    assert len(seen) == 2 and engine.cache_stats()["size"] == 0

    off = EmbeddedEngine(_source(tmp_path, ALLOW_ALL), cache_size=0)
    seen = _counting(off, monkeypatch)
    off.decide(QUESTION), off.decide(QUESTION)
    assert len(seen) == 2 and off.cache_stats() == {"hits": 0, "misses": 0, "size": 0}
