"""``python -m bench [-k NAME ...] [--list] [--results-dir DIR]``: run the benchmarks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from bench.harness import DEFAULT_RESULTS_DIR, discover, run, select


def main(argv: Sequence[str] | None = None, package: str = "bench") -> int:
    """Run the selected benchmarks; 0 if all ran within their limits, else 1 (2: none)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "-k",
        dest="keywords",
        action="append",
        default=[],
        metavar="NAME",
        help="run only benchmarks whose name contains NAME (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS_DIR,
        help=f"where to write the JSON results (default: {DEFAULT_RESULTS_DIR})",
    )
    args = parser.parse_args(argv)
    console = Console()
    chosen = select(discover(package), args.keywords)
    if args.list:
        for bench in chosen:
            console.print(f"{bench.name}\t{bench.description}")
        return 0
    if not chosen:
        console.print("no benchmark matches", style="red")
        return 2
    report = run(chosen, args.results_dir, console)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
