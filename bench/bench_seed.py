"""Seeding speed: ``governance demo seed --subjects N`` on a fresh SQLite instance.

N is 100,000 unless ``BENCH_SEED_SUBJECTS`` says otherwise; the limit is 60 seconds for
100,000 subjects (scaled linearly for another N). The instance (database, keys) lives in
a temporary folder, migrated to the current schema with the default catalog loaded, and
is deleted afterwards.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import Metric, benchmark, instance_config

LIMIT_SECONDS_PER_100K = 60.0
DEFAULT_SUBJECTS = 100_000


def _fresh_app(folder: Path) -> Any:
    from consent.catalog.loader import DEFAULT_CATALOG_PATH, load_catalog_file
    from governance import create_app, demo, migrate
    from governance.db import get_engine, get_session

    app = create_app(instance_config(folder))
    url = app.config["DATABASE_URL"]
    demo.init_app(app)
    migrate.upgrade(url)
    with app.app_context():
        db = get_session()
        load_catalog_file(db, DEFAULT_CATALOG_PATH)
        db.commit()
    get_engine(app).dispose()
    return app


@benchmark("demo-seed", description="governance demo seed on a fresh SQLite database")
def seed_subjects() -> list[Metric]:
    """Seconds and subjects per second for ``governance demo seed``."""
    count = int(os.environ.get("BENCH_SEED_SUBJECTS", DEFAULT_SUBJECTS))
    with tempfile.TemporaryDirectory(prefix="bench-seed-") as tmp:
        app = _fresh_app(Path(tmp))
        runner = app.test_cli_runner()
        started = time.perf_counter()
        result = runner.invoke(args=["demo", "seed", "--subjects", str(count), "--seed", "1"])
        seconds = time.perf_counter() - started
        if result.exit_code != 0:
            raise RuntimeError(f"demo seed failed ({result.exit_code}): {result.output.strip()}")
        size_mb = (Path(tmp) / "bench.sqlite3").stat().st_size / 1e6
    return [
        Metric(
            "seconds",
            seconds,
            "s",
            limit=LIMIT_SECONDS_PER_100K * count / DEFAULT_SUBJECTS,
        ),
        Metric("subjects", count, "subjects"),
        Metric("rate", count / seconds, "subjects/s"),
        Metric("database size", size_mb, "MB"),
    ]
