"""The benchmark harness: discover, run, compare with limits, print a table, save JSON.

A benchmark is a function returning one or more :class:`Metric` values (a number, its
unit and, optionally, a limit). Modules named ``bench_*.py`` in the ``bench`` package
declare them either in a module-level ``BENCHMARKS`` list or with the :func:`benchmark`
decorator. A run prints each metric's value, limit and ratio (value / limit) in one table
and writes the same to ``bench/results/<timestamp>.json`` and ``bench/results/latest.json``.

A metric is *over its limit* when the ratio is above 1 (or below 1 for metrics where
higher is better, such as throughput); the run then exits with status 1, as it does when
a benchmark raises.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import os
import pkgutil
import platform
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = [
    "DEFAULT_RESULTS_DIR",
    "Benchmark",
    "BenchmarkResult",
    "Metric",
    "RunReport",
    "benchmark",
    "discover",
    "instance_config",
    "run",
    "select",
]

DEFAULT_RESULTS_DIR = Path(__file__).resolve().parent / "results"


def instance_config(folder: Path, **overrides: Any) -> dict[str, Any]:
    """App settings for a throwaway instance in ``folder``: its own SQLite file and keys."""
    return {
        "ENV": "development",
        "INSTANCE_PATH": str(folder),
        "DATABASE_URL": f"sqlite:///{folder / 'bench.sqlite3'}",
        # Keys of this instance only, whatever the environment points at.
        "KEY_DIR": str(folder / "keys"),
        "SECRET_KEY_FILE": None,
        "KEK_FILE": None,
        "BLIND_INDEX_KEY_FILE": None,
        "PORTAL_LINK_KEY_FILE": None,
        "AUDIT_SIGNING_KEY_FILE": None,
        **overrides,
    }


@dataclass(frozen=True)
class Metric:
    """One measured number, with an optional limit to compare it with."""

    name: str
    value: float
    unit: str = ""
    limit: float | None = None
    higher_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        """``value / limit``, or None without a limit."""
        if self.limit is None or self.limit == 0:
            return None
        return self.value / self.limit

    @property
    def within_limit(self) -> bool | None:
        """Whether the value keeps to the limit (None without a limit)."""
        ratio = self.ratio
        if ratio is None:
            return None
        return ratio >= 1 if self.higher_is_better else ratio <= 1

    def to_json(self) -> dict[str, Any]:
        """The metric as a JSON object."""
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "limit": self.limit,
            "ratio": self.ratio,
            "higher_is_better": self.higher_is_better,
            "within_limit": self.within_limit,
        }


BenchmarkOutput = Metric | Sequence[Metric]


@dataclass(frozen=True)
class Benchmark:
    """A named function that measures something and returns metrics."""

    name: str
    func: Callable[[], BenchmarkOutput]
    description: str = ""


_REGISTERED: list[Benchmark] = []


def benchmark(
    name: str | None = None, description: str = ""
) -> Callable[[Callable[[], BenchmarkOutput]], Callable[[], BenchmarkOutput]]:
    """Register the decorated function as a benchmark (default name: the function's)."""

    def register(func: Callable[[], BenchmarkOutput]) -> Callable[[], BenchmarkOutput]:
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTERED.append(
            Benchmark(name or func.__name__, func, description or (doc[0] if doc else ""))
        )
        return func

    return register


def discover(package: str = "bench") -> list[Benchmark]:
    """Import every ``bench_*`` module of ``package``; return its benchmarks, by name."""
    pkg = importlib.import_module(package)
    found: dict[str, Benchmark] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if not info.name.startswith("bench_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        listed = [b for b in getattr(module, "BENCHMARKS", []) if isinstance(b, Benchmark)]
        decorated = [b for b in _REGISTERED if b.func.__module__ == module.__name__]
        for bench in [*listed, *decorated]:
            found.setdefault(bench.name, bench)
    return sorted(found.values(), key=lambda b: b.name)


def select(benchmarks: Iterable[Benchmark], keywords: Sequence[str]) -> list[Benchmark]:
    """The benchmarks whose name contains any of ``keywords`` (all without keywords)."""
    if not keywords:
        return list(benchmarks)
    return [b for b in benchmarks if any(k.lower() in b.name.lower() for k in keywords)]


@dataclass
class BenchmarkResult:
    """The outcome of one benchmark."""

    name: str
    description: str
    seconds: float
    metrics: list[Metric] = field(default_factory=list)
    error: str | None = None

    @property
    def status(self) -> str:
        """``ok``, ``over-limit`` or ``error``."""
        if self.error is not None:
            return "error"
        if any(m.within_limit is False for m in self.metrics):
            return "over-limit"
        return "ok"

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return {
            "name": self.name,
            "description": self.description,
            "status": self.status,
            "seconds": self.seconds,
            "metrics": [m.to_json() for m in self.metrics],
            "error": self.error,
        }


@dataclass
class RunReport:
    """Every result of one run, and where it was saved."""

    started_at: dt.datetime
    results: list[BenchmarkResult]
    path: Path | None = None

    @property
    def ok(self) -> bool:
        """True if every benchmark ran and kept to its limits."""
        return all(r.status == "ok" for r in self.results)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {
            "started_at": self.started_at.isoformat(),
            "ok": self.ok,
            "host": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "machine": platform.machine(),
                "cpu_count": os.cpu_count(),
            },
            "results": [r.to_json() for r in self.results],
        }


def _as_metrics(output: BenchmarkOutput) -> list[Metric]:
    metrics = [output] if isinstance(output, Metric) else list(output)
    if not metrics or not all(isinstance(m, Metric) for m in metrics):
        raise TypeError("a benchmark must return a Metric or a list of Metric")
    return metrics


def run_one(bench: Benchmark) -> BenchmarkResult:
    """Run one benchmark; an exception becomes an ``error`` result (with its traceback)."""
    started = time.perf_counter()
    try:
        metrics = _as_metrics(bench.func())
    except Exception:  # reported as a failed benchmark, and the run exits non-zero
        return BenchmarkResult(
            bench.name, bench.description, time.perf_counter() - started,
            error=traceback.format_exc(limit=5),
        )  # fmt: skip
    return BenchmarkResult(bench.name, bench.description, time.perf_counter() - started, metrics)


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def render_table(results: Sequence[BenchmarkResult]) -> Table:
    """A rich table of every metric: value, unit, limit, ratio and status."""
    table = Table(title="benchmarks")
    for header in ("benchmark", "metric", "value", "unit", "limit", "ratio", "status"):
        justify = "right" if header in {"value", "limit", "ratio"} else "left"
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for result in results:
        if result.error is not None:
            last = result.error.strip().splitlines()[-1]
            table.add_row(result.name, "-", "-", "", "-", "-", f"[red]error[/red]: {last}")
            continue
        for metric in result.metrics:
            within = metric.within_limit
            status = {True: "[green]ok[/green]", False: "[red]over limit[/red]", None: ""}[within]
            table.add_row(
                result.name,
                metric.name,
                _fmt(metric.value),
                metric.unit,
                _fmt(metric.limit),
                "-" if metric.ratio is None else f"{metric.ratio:.2f}",
                status,
            )
    return table


def save(report: RunReport, results_dir: Path) -> Path:
    """Write the report to ``<timestamp>.json`` and ``latest.json`` in ``results_dir``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = report.started_at.strftime("%Y%m%dT%H%M%SZ")
    path = results_dir / f"{stamp}.json"
    n = 1
    while path.exists():
        n += 1
        path = results_dir / f"{stamp}-{n}.json"
    text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    (results_dir / "latest.json").write_text(text, encoding="utf-8")
    report.path = path
    return path


def run(
    benchmarks: Sequence[Benchmark],
    results_dir: Path = DEFAULT_RESULTS_DIR,
    console: Console | None = None,
) -> RunReport:
    """Run ``benchmarks`` in order, print the table, save the JSON; return the report."""
    console = console or Console()
    report = RunReport(started_at=dt.datetime.now(dt.UTC), results=[])
    for bench in benchmarks:
        console.print(f"running {bench.name} ...")
        report.results.append(run_one(bench))
    console.print(render_table(report.results))
    path = save(report, results_dir)
    console.print(f"results: {path}")
    return report
