"""Guarded reads over HTTP: gunicorn with 2 workers, 1 and 4 client threads.

``guarded-read-http``
    A throwaway SQLite instance with ``BENCH_READ_SUBJECTS`` fictional subjects (default
    3,000; 14 encrypted fields each, ``marketing_push`` granted through the consent
    ledger), served by ``gunicorn -w 2`` on 127.0.0.1 (policies compiled once per worker,
    no reload). An API key with ``profile:read`` scoped to ``marketing_push``; client
    threads post ``POST /api/v1/profiles/<subject>/read`` for the ten fields of
    ``profiles_data.READ_FIELDS`` (random subjects, seeded) for
    ``BENCH_READ_HTTP_SECONDS`` each (default 10), with 1 and with 4 threads: reads per
    second (each one consent, policy, decryption, audit entry committed, JSON answer), and
    the single client's p50 and p99 latency. Every answer must reveal the ten fields. No
    target: the issue asks for the number.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench import profiles_data as data
from bench.harness import Metric, benchmark

THREADS = (1, 4)


def _prepare(folder: Path, subjects: int) -> str:
    """Subjects with values and consent, and a service key; returns its token."""
    from governance.auth import services
    from governance.db import get_engine, get_session
    from governance.profiles.vault import get_vault_engine

    app = data.fresh_app(folder)
    data.build_profiles(app, subjects, data.STORED_FIELDS)
    data.grant_with_ledger(app, subjects)
    with app.app_context():
        db = get_session()
        new = services.create_api_key(
            db,
            "guarded-read benchmark (fictional)",
            [data.PURPOSE],
            ["profile:read"],
            known_purposes={data.PURPOSE},
        )
        db.commit()
    get_engine(app).dispose()
    get_vault_engine(app).dispose()
    return new.token


def _client(
    port: int, token: str, subjects: int, seconds: float, seed: int
) -> tuple[list[float], int]:
    """Guarded reads for ``seconds``: (latencies in ms of the good ones, failures)."""
    rng = random.Random(seed)  # which subject to read: reproducible, not a secret
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.dumps({"purpose": data.PURPOSE, "fields": list(data.READ_FIELDS)})
    latencies: list[float] = []
    failed = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        subject = data.subject_id(rng.randrange(subjects))
        started = time.perf_counter()
        conn.request("POST", f"/api/v1/profiles/{subject}/read", body, headers)
        resp = conn.getresponse()
        answer = resp.read()
        elapsed = (time.perf_counter() - started) * 1000
        revealed = (
            [f for f in json.loads(answer)["fields"].values() if f["allow"] and f["stored"]]
            if resp.status == 200
            else []
        )
        if len(revealed) != len(data.READ_FIELDS):
            failed += 1
        else:
            latencies.append(elapsed)
    conn.close()
    return latencies, failed


def _run(
    port: int, token: str, subjects: int, seconds: float, threads: int
) -> tuple[float, list[float]]:
    """Reads per second with ``threads`` clients, and every latency (ms)."""
    results: list[tuple[list[float], int]] = []

    def client(n: int) -> None:
        results.append(_client(port, token, subjects, seconds, threads * 100 + n))

    workers = [threading.Thread(target=client, args=(n,)) for n in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    failed = sum(f for _, f in results)
    if failed:
        raise RuntimeError(f"{failed} guarded reads failed or revealed less than asked")
    latencies = [ms for done, _ in results for ms in done]
    return len(latencies) / elapsed, latencies


@benchmark("guarded-read-http", description="guarded reads of 10 fields over HTTP, gunicorn -w 2")
def guarded_read_http() -> list[Metric]:
    """Reads per second with 1 and 4 client threads, and the single client's latency."""
    from bench.bench_policy_http import _free_port, _serve

    subjects = int(os.environ.get("BENCH_READ_SUBJECTS", "3000"))
    seconds = float(os.environ.get("BENCH_READ_HTTP_SECONDS", "10"))
    metrics: list[Metric] = []
    with tempfile.TemporaryDirectory(prefix="bench-read-http-") as tmp:
        folder = Path(tmp)
        token = _prepare(folder, subjects)
        port = _free_port()
        server = _serve(folder, port)
        try:
            _run(port, token, subjects, min(2.0, seconds), 2)  # warm-up: both workers
            for threads in THREADS:
                rate, latencies = _run(port, token, subjects, seconds, threads)
                metrics.append(Metric(f"{threads} client thread(s)", rate, "reads/s"))
                if threads == 1:
                    metrics.append(Metric("1 thread: p50", statistics.median(latencies), "ms"))
                    metrics.append(Metric("1 thread: p99", data.percentile(latencies, 0.99), "ms"))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    metrics.append(Metric("subjects", subjects, "subjects"))
    metrics.append(Metric("seconds per client setting", seconds, "s"))
    return metrics
