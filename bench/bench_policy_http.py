"""The policy batch API over HTTP: gunicorn with 2 workers, batches of 1, 100 and 1,000.

``policy-batch-http``
    A throwaway SQLite instance with the default catalog and ``BENCH_POLICY_SUBJECTS``
    subjects (default 10,000) holding consent states, served by ``gunicorn -w 2`` on
    127.0.0.1 (policies compiled once per worker, no reload). Two client threads with
    keep-alive connections post ``POST /api/v1/policy/decisions`` batches of 1, 100 and
    1,000 questions (three fields each, random subjects, mixed purposes) for
    ``BENCH_POLICY_HTTP_SECONDS`` each (default 10): decisions per second per batch size,
    each decision evaluated, audited and committed. No target: the issue asks for the
    numbers.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import Metric, benchmark, instance_config

ROOT = Path(__file__).resolve().parent.parent
BATCHES = (1, 100, 1000)
PURPOSES = ("marketing_push", "analytics")
FIELDS = ("nickname", "city", "member_level", "browse_history", "mobile")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prepare(folder: Path, subjects: int) -> str:
    """Migrate, load the catalog and ``subjects`` consent states; return an API token."""
    from bench.bench_consent import _app, _load
    from governance.auth import services
    from governance.db import get_engine, get_session

    app = _app(folder)
    _load(app, subjects)
    with app.app_context():
        db = get_session()
        new = services.create_api_key(
            db,
            "benchmark service (fictional)",
            list(PURPOSES),
            ["policy:check"],
            known_purposes=set(PURPOSES),
        )
        db.commit()
    get_engine(app).dispose()
    return new.token


def _serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GOVERNANCE_ENV": "development",
        "GOVERNANCE_INSTANCE_PATH": str(folder),
        "GOVERNANCE_DATABASE_URL": instance_config(folder)["DATABASE_URL"],
        "GOVERNANCE_KEY_DIR": str(folder / "keys"),
        "GOVERNANCE_POLICY_RELOAD": "false",
        "GOVERNANCE_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(  # noqa: S603 - our own server, fixed arguments
        [
            sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}",
            "--access-logfile", "/dev/null", "wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def _client(
    port: int, token: str, size: int, subjects: int, seconds: float, seed: int
) -> tuple[int, int]:
    """Post batches of ``size`` for ``seconds``; returns (decisions, failed requests)."""
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    done = failed = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        body = {
            "questions": [
                {
                    "subject": f"sub_benchConsent{rng.randrange(subjects):010d}",
                    "purpose": rng.choice(PURPOSES),
                    "fields": rng.sample(FIELDS, 3),
                }
                for _ in range(size)
            ]
        }
        conn.request("POST", "/api/v1/policy/decisions", json.dumps(body), headers)
        resp = conn.getresponse()
        answer = resp.read()
        if resp.status != 200 or len(json.loads(answer)["results"]) != size:
            failed += 1
        else:
            done += size
    conn.close()
    return done, failed


@benchmark("policy-batch-http", description="policy batch API over HTTP, gunicorn -w 2")
def batch_http() -> list[Metric]:
    """Decisions per second for batches of 1, 100 and 1,000."""
    subjects = int(os.environ.get("BENCH_POLICY_SUBJECTS", "10000"))
    seconds = float(os.environ.get("BENCH_POLICY_HTTP_SECONDS", "10"))
    metrics: list[Metric] = []
    with tempfile.TemporaryDirectory(prefix="bench-policy-http-") as tmp:
        folder = Path(tmp)
        token = _prepare(folder, subjects)
        port = _free_port()
        server = _serve(folder, port)
        try:
            for size in BATCHES:
                _client(port, token, size, subjects, 1.0, seed=size)  # warm-up
                results: list[tuple[int, int]] = []

                def client(n: int, size: int = size, results: list[Any] = results) -> None:
                    results.append(_client(port, token, size, subjects, seconds, size * 10 + n))

                started = time.perf_counter()
                threads = [threading.Thread(target=client, args=(n,)) for n in range(2)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - started
                decisions = sum(d for d, _ in results)
                if any(f for _, f in results):
                    raise RuntimeError(f"requests failed with batches of {size}")
                metrics.append(Metric(f"batch of {size:,}", decisions / elapsed, "decisions/s"))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
    metrics.append(Metric("subjects", subjects, "subjects"))
    return metrics
