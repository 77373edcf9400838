"""Benchmarks of the platform (``python -m bench``, ``make bench``).

Add a benchmark in a ``bench/bench_<topic>.py`` module, with the :func:`benchmark`
decorator or a ``BENCHMARKS`` list; see :mod:`bench.harness`.
"""

from __future__ import annotations

from bench.harness import Benchmark, Metric, benchmark

__all__ = ["Benchmark", "Metric", "benchmark"]
