"""Typed run settings, read from a run's config (``[tool.flwr.app.config]`` + overrides).

Every key is kebab-case in the TOML and here (:data:`DEFAULTS` mirrors the app's
``pyproject.toml``; a test keeps them equal). The governance layer sets ``agreement-id``,
``result-path`` and, when an agreement allows it, ``secagg = false`` or ``dp = false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULTS", "RunSettings"]

#: The defaults of ``federated/app/pyproject.toml``'s ``[tool.flwr.app.config]``.
DEFAULTS: dict[str, Any] = {
    "mode": "horizontal",
    "num-server-rounds": 5,
    "local-epochs": 2,
    "batch-size": 64,
    "learning-rate": 0.1,
    "l2": 0.0001,
    "secagg": True,
    "dp": True,
    "dp-noise-multiplier": 0.8,
    "dp-clipping-norm": 0.4,
    "dp-delta": 1e-5,
    "seed": 42,
    "label-field": "high_spending_capacity",
    "test-fraction": 0.2,
    "min-nodes": 2,
    "round-timeout": 300.0,
    "agreement-id": "",
    "result-path": "",
}


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"run config {key} must be true or false")


@dataclass(frozen=True)
class RunSettings:
    """One run's parameters."""

    mode: str
    rounds: int
    local_epochs: int
    batch_size: int
    learning_rate: float
    l2: float
    secagg: bool
    dp: bool
    noise_multiplier: float
    clipping_norm: float
    delta: float
    seed: int
    label_field: str
    test_fraction: float
    min_nodes: int
    round_timeout: float
    agreement_id: str
    result_path: str

    @classmethod
    def from_run_config(cls, run_config: Mapping[str, Any]) -> RunSettings:
        """Settings from a run config (missing keys take :data:`DEFAULTS`); checked."""
        c = {**DEFAULTS, **dict(run_config)}
        settings = cls(
            mode=str(c["mode"]),
            rounds=int(c["num-server-rounds"]),
            local_epochs=int(c["local-epochs"]),
            batch_size=int(c["batch-size"]),
            learning_rate=float(c["learning-rate"]),
            l2=float(c["l2"]),
            secagg=_bool(c["secagg"], "secagg"),
            dp=_bool(c["dp"], "dp"),
            noise_multiplier=float(c["dp-noise-multiplier"]),
            clipping_norm=float(c["dp-clipping-norm"]),
            delta=float(c["dp-delta"]),
            seed=int(c["seed"]),
            label_field=str(c["label-field"]),
            test_fraction=float(c["test-fraction"]),
            min_nodes=int(c["min-nodes"]),
            round_timeout=float(c["round-timeout"]),
            agreement_id=str(c["agreement-id"]),
            result_path=str(c["result-path"]),
        )
        settings.check()
        return settings

    def check(self) -> None:
        """Refuse settings that cannot run or would silently weaken privacy."""
        if self.mode not in ("horizontal", "vertical"):
            raise ValueError("run config mode must be horizontal or vertical")
        if self.rounds < 1 or self.local_epochs < 1 or self.batch_size < 1:
            raise ValueError("rounds, local-epochs and batch-size must be at least 1")
        if self.min_nodes < 2:
            raise ValueError("min-nodes must be at least 2")
        if not 0 < self.test_fraction < 1:
            raise ValueError("test-fraction must be between 0 and 1")
        if self.dp and (self.noise_multiplier <= 0 or self.clipping_norm <= 0):
            raise ValueError("with dp on, dp-noise-multiplier and dp-clipping-norm must be > 0")
        if self.dp and not 0 < self.delta < 1:
            raise ValueError("dp-delta must be between 0 and 1")
        if self.mode == "vertical" and (self.secagg or self.dp):
            raise ValueError(
                "vertical mode provides neither SecAgg+ nor differential privacy: run it "
                "with secagg = false and dp = false, which an agreement must allow"
            )
