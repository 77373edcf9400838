"""Federated modelling: accuracy against centralised training, and loopback wall time.

``federated-accuracy`` runs the ServerApp and ClientApp code in one process
(:mod:`federated.local`: same handlers, Flower's SecAgg+ and DP pieces, PSI, split
learning) on the synthetic data of seed :data:`DATA_SEED` (4,000 customers), and compares
each model's AUC on the pooled held-out rows with a centralised model's on the same rows:

* horizontal, no SecAgg+ or DP: |ΔAUC| ≤ 0.01;
* horizontal, SecAgg+ and DP on (z=0.8, C=0.4, 5 rounds): mean |ΔAUC| over the DP noise
  seeds :data:`NOISE_SEEDS` ≤ 0.03 (the worst seed is reported too);
* vertical (PSI + split learning): |ΔAUC| ≤ 0.01.

``federated-loopback`` runs the real thing: a SuperLink and two SuperNodes on 127.0.0.1,
``flwr run``, 5 rounds, SecAgg+ and DP on; wall time from starting the SuperLink to the
result file (≤ 180 s), and that run's |ΔAUC|. Then the vertical run's wall time.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import Metric, benchmark

DATA_SEED = 7
CUSTOMERS = 4000
NOISE_SEEDS = tuple(range(10))
LABEL = "high_spending_capacity"


def _quiet_flower() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import flwr.common  # noqa: F401  (typer, under flwr, warns about click 8.5 at import)
    import logging

    logging.getLogger("flwr").setLevel(logging.ERROR)


def _horizontal_delta(prepared: Any, document: dict[str, Any]) -> tuple[float, float]:
    from federated import baseline, task

    pooled = baseline.pooled_rows(list(prepared.node_configs.values()), LABEL, 0.2)
    settings = document["settings"]
    epochs = int(settings.get("num-server-rounds", 5)) * int(settings.get("local-epochs", 2))
    central = baseline.horizontal_baseline(
        pooled, epochs=epochs, config=task.TrainConfig(), seed=42
    )
    federated = baseline.score_model(document["model"], pooled)
    return central["auc"], federated["auc"]


@benchmark("federated-accuracy", description="federated vs centralised AUC (in process)")
def accuracy() -> list[Metric]:
    """|ΔAUC| of horizontal, horizontal with SecAgg+ and DP, and vertical runs."""
    _quiet_flower()
    from federated import baseline
    from federated.demo import prepare
    from federated.local import run_in_process

    with tempfile.TemporaryDirectory(prefix="bench-federated-") as tmp:
        folder = Path(tmp)
        horizontal = prepare("horizontal", folder, customers=CUSTOMERS, seed=DATA_SEED)
        nodes = list(horizontal.node_configs.values())
        plain = run_in_process(
            nodes, {"result-path": str(folder / "h.json"), "secagg": False, "dp": False}
        )
        central, federated = _horizontal_delta(horizontal, plain)
        deltas = []
        state = np.random.get_state()
        try:
            for seed in NOISE_SEEDS:
                np.random.seed(seed)  # Flower's DP noise draws from numpy's global generator
                private = run_in_process(nodes, {"result-path": str(folder / f"p{seed}.json")})
                deltas.append(abs(_horizontal_delta(horizontal, private)[1] - central))
        finally:
            np.random.set_state(state)
        vertical = prepare("vertical", folder, customers=CUSTOMERS, seed=DATA_SEED)
        split = run_in_process(
            list(vertical.node_configs.values()),
            {
                "result-path": str(folder / "v.json"),
                "mode": "vertical",
                "secagg": False,
                "dp": False,
            },
        )
        v_central = baseline.vertical_baseline(
            vertical.node_configs["retailer"], vertical.node_configs["bank"], LABEL, 0.2
        )["auc"]
    from federated.privacy import gaussian_epsilon

    epsilon = gaussian_epsilon(0.8, 5, 1e-5)
    seeds = f"data seed {DATA_SEED}"
    return [
        Metric(f"centralised AUC, horizontal rows ({seeds})", central, "AUC"),
        Metric(f"horizontal |ΔAUC| ({seeds})", abs(federated - central), "AUC", limit=0.01),
        Metric(
            f"SecAgg+DP mean |ΔAUC| (noise seeds 0-{NOISE_SEEDS[-1]})",
            float(np.mean(deltas)),
            "AUC",
            limit=0.03,
        ),
        Metric("SecAgg+DP worst |ΔAUC| of those seeds", float(np.max(deltas)), "AUC"),
        Metric(f"centralised AUC, shared customers ({seeds})", v_central, "AUC"),
        Metric(
            f"vertical |ΔAUC| ({seeds})",
            abs(float(split["final"]["auc"]) - v_central),
            "AUC",
            limit=0.01,
        ),
        Metric("DP epsilon (z=0.8, C=0.4, 5 rounds, delta=1e-5)", epsilon, ""),
    ]


@benchmark("federated-loopback", description="Flower Deployment Engine on 127.0.0.1")
def loopback() -> list[Metric]:
    """Wall time of 5 rounds with SecAgg+ and DP on loopback; then of the vertical run."""
    _quiet_flower()
    from federated.demo import prepare, run_mode

    with tempfile.TemporaryDirectory(prefix="bench-federated-") as tmp:
        folder = Path(tmp)
        horizontal = prepare("horizontal", folder, customers=CUSTOMERS, seed=DATA_SEED)
        started = time.perf_counter()
        document = run_mode(horizontal, {"num-server-rounds": 5}, say=lambda _: None)
        seconds = time.perf_counter() - started
        central, federated = _horizontal_delta(horizontal, document)
        vertical = prepare("vertical", folder, customers=CUSTOMERS, seed=DATA_SEED)
        started = time.perf_counter()
        run_mode(
            vertical,
            {"mode": "vertical", "secagg": False, "dp": False, "num-server-rounds": 5},
            say=lambda _: None,
        )
        v_seconds = time.perf_counter() - started
    return [
        Metric(
            "horizontal, 5 rounds, 2 participants, SecAgg+ and DP: wall", seconds, "s", limit=180
        ),
        Metric("that run's |ΔAUC| (one noise draw)", abs(federated - central), "AUC"),
        Metric("vertical, PSI + 5 rounds: wall", v_seconds, "s"),
    ]
