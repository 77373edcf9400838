"""The benchmark harness: discovery, -k filtering, limits and ratios, JSON results."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path

import pytest
from rich.console import Console

from bench.__main__ import main
from bench.harness import Benchmark, Metric, run, select


@pytest.fixture
def console() -> Console:
    return Console(record=True, width=140)


def test_run_writes_value_limit_and_ratio(tmp_path: Path, console: Console) -> None:
    benches = [
        Benchmark("fast", lambda: [Metric("seconds", 1.5, "s", limit=3.0)]),
        Benchmark(
            "rate", lambda: Metric("rows/s", 500.0, "rows/s", limit=1000.0, higher_is_better=True)
        ),
    ]
    report = run(benches, tmp_path, console)
    assert report.path is not None and report.path.parent == tmp_path
    saved = json.loads(report.path.read_text())
    assert json.loads((tmp_path / "latest.json").read_text()) == saved
    fast, rate = saved["results"]
    assert fast["status"] == "ok"
    assert fast["metrics"][0] == {
        "name": "seconds",
        "value": 1.5,
        "unit": "s",
        "limit": 3.0,
        "ratio": 0.5,
        "higher_is_better": False,
        "within_limit": True,
    }
    assert rate["status"] == "over-limit" and rate["metrics"][0]["ratio"] == 0.5
    assert saved["ok"] is False and report.ok is False
    table = console.export_text()
    assert "0.50" in table and "over limit" in table


def test_a_failing_benchmark_is_an_error_not_a_crash(tmp_path: Path, console: Console) -> None:
    def broken() -> Metric:
        raise RuntimeError("fictional failure")

    report = run(
        [Benchmark("broken", broken), Benchmark("fine", lambda: Metric("n", 1))], tmp_path, console
    )
    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"broken": "error", "fine": "ok"}
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert "fictional failure" in saved["results"][0]["error"]
    assert not report.ok


def test_metric_without_limit_has_no_ratio() -> None:
    metric = Metric("size", 12.0, "MB")
    assert metric.ratio is None and metric.within_limit is None


def test_select_filters_by_name_substring() -> None:
    benches = [
        Benchmark(n, lambda: Metric("x", 1)) for n in ("demo-seed", "guarded-read", "seed-pg")
    ]
    assert [b.name for b in select(benches, ["seed"])] == ["demo-seed", "seed-pg"]
    assert [b.name for b in select(benches, ["READ", "pg"])] == ["guarded-read", "seed-pg"]
    assert len(select(benches, [])) == 3


@pytest.fixture
def fake_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A package with a decorated benchmark, a listed one and a non-benchmark module."""
    name = f"fakebench_{uuid.uuid4().hex[:8]}"
    pkg = tmp_path / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text('"""Fake benchmarks."""\n')
    (pkg / "bench_tiny.py").write_text(
        textwrap.dedent(
            '''
            """Tiny fake benchmarks."""
            from bench.harness import Benchmark, Metric, benchmark

            @benchmark("tiny-decorated")
            def tiny() -> list[Metric]:
                """Counts to three."""
                return [Metric("seconds", 0.25, "s", limit=0.5), Metric("count", 3)]

            BENCHMARKS = [Benchmark("tiny-listed", lambda: Metric("seconds", 2.0, "s", limit=1.0))]
            '''
        )
    )
    (pkg / "helpers.py").write_text(
        '"""Not a benchmark module."""\nraise RuntimeError("imported")\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    return name


def test_cli_discovers_filters_and_saves(fake_package: str, tmp_path: Path) -> None:
    results = tmp_path / "results"
    code = main(["-k", "decorated", "--results-dir", str(results)], package=fake_package)
    assert code == 0
    saved = json.loads((results / "latest.json").read_text())
    assert [r["name"] for r in saved["results"]] == ["tiny-decorated"]
    assert saved["results"][0]["description"] == "Counts to three."
    assert saved["results"][0]["metrics"][0]["ratio"] == 0.5


def test_cli_exits_non_zero_when_over_a_limit(fake_package: str, tmp_path: Path) -> None:
    code = main(["--results-dir", str(tmp_path / "r")], package=fake_package)
    assert code == 1
    saved = json.loads((tmp_path / "r" / "latest.json").read_text())
    assert {r["name"]: r["status"] for r in saved["results"]} == {
        "tiny-decorated": "ok",
        "tiny-listed": "over-limit",
    }


def test_cli_with_no_match_exits_2(fake_package: str, tmp_path: Path) -> None:
    assert (
        main(["-k", "nothing-like-this", "--results-dir", str(tmp_path)], package=fake_package) == 2
    )
    assert not (tmp_path / "latest.json").exists()


def test_the_seed_benchmark_is_discovered() -> None:
    from bench.harness import discover

    assert "demo-seed" in [b.name for b in discover()]


def test_the_seed_benchmark_runs_on_a_fresh_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.bench_seed import seed_subjects

    monkeypatch.setenv("BENCH_SEED_SUBJECTS", "30")
    metrics = {m.name: m for m in seed_subjects()}
    assert metrics["subjects"].value == 30
    assert metrics["seconds"].limit == pytest.approx(60.0 * 30 / 100_000)
    assert metrics["rate"].value > 0
