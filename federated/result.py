"""What a run leaves behind for the governance layer: one JSON result, and its progress.

The ServerApp writes ``result-path`` (run config) when the run ends, atomically, whether it
succeeded (``"status": "succeeded"``) or not (``"status": "failed"`` and ``"error"``), and
appends one JSON line per finished round to ``<result-path>.progress.jsonl`` as it goes.
An empty ``result-path`` writes nothing (the ServerApp's log has the same figures).

The result (``"format": "federated-run-result/1"``), every member always present::

    status, error, mode, run_id, agreement_id, started_at, finished_at, wall_seconds,
    app: {code_sha256, flwr_version},
    settings: {...the run config as applied...},
    privacy: {secure_aggregation: {...}, differential_privacy: {...}},
    participants: [{node_id, party, rows_read, cohort_size, train_rows, test_rows,
                    manifest_sha256, manifest_agreement_id, features}],
    rounds: [{round, loss, auc, accuracy, examples, seconds}],
    final: {loss, auc, accuracy, examples} | null,
    model: {kind, features, standardisation: {mean, std}, parameters: {weights, bias},
            sha256, serialisation} | null,
    vertical: {...} | null

:func:`read_result` loads and checks one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "RESULT_FORMAT",
    "ParticipantInfo",
    "RoundMetrics",
    "RunRecorder",
    "app_code_sha256",
    "progress_path",
    "read_result",
]

RESULT_FORMAT = "federated-run-result/1"
_PACKAGE_DIR = Path(__file__).resolve().parent


def now_utc() -> str:
    """The current time, ISO 8601 in UTC."""
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def app_code_sha256() -> str:
    """SHA-256 over the federated package's Python sources (path, NUL, bytes; sorted).

    The FAB that ``flwr run`` ships carries only the app's configuration (the code is the
    installed ``federated`` package), so the run records which code it ran.
    """
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE_DIR.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def progress_path(result_path: str | Path) -> Path:
    """Where the per-round progress of a run writing ``result_path`` goes."""
    return Path(f"{result_path}.progress.jsonl")


@dataclass(frozen=True)
class ParticipantInfo:
    """One participant's cohort, as it reported it (counts and hashes, never ids)."""

    node_id: int
    party: str
    rows_read: int
    cohort_size: int
    train_rows: int
    test_rows: int
    manifest_sha256: str | None
    manifest_agreement_id: str | None
    features: list[str]


@dataclass(frozen=True)
class RoundMetrics:
    """The global model's pooled evaluation after a round."""

    round: int
    loss: float
    auc: float
    accuracy: float
    examples: int
    seconds: float


@dataclass
class RunRecorder:
    """Collects a run's facts and writes its result and progress files."""

    result_path: str
    mode: str
    run_id: int
    agreement_id: str
    settings: dict[str, Any]
    started_at: str = field(default_factory=now_utc)
    privacy: dict[str, Any] = field(default_factory=dict)
    participants: list[ParticipantInfo] = field(default_factory=list)
    rounds: list[RoundMetrics] = field(default_factory=list)
    final: dict[str, Any] | None = None
    model: dict[str, Any] | None = None
    vertical: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._t0 = dt.datetime.now(dt.UTC)
        if self.result_path:
            progress = progress_path(self.result_path)
            progress.parent.mkdir(parents=True, exist_ok=True)
            progress.write_text("", encoding="utf-8")

    def add_round(self, metrics: RoundMetrics) -> None:
        """Record a round and append it to the progress file."""
        self.rounds.append(metrics)
        if self.result_path:
            with progress_path(self.result_path).open("a", encoding="utf-8") as out:
                out.write(json.dumps(asdict(metrics)) + "\n")

    def document(self, status: str, error: str | None = None) -> dict[str, Any]:
        """The result as a JSON-ready mapping."""
        finished = dt.datetime.now(dt.UTC)
        return {
            "format": RESULT_FORMAT,
            "status": status,
            "error": error,
            "mode": self.mode,
            "run_id": self.run_id,
            "agreement_id": self.agreement_id,
            "started_at": self.started_at,
            "finished_at": now_utc(),
            "wall_seconds": (finished - self._t0).total_seconds(),
            "app": {"code_sha256": app_code_sha256(), "flwr_version": metadata.version("flwr")},
            "settings": self.settings,
            "privacy": self.privacy,
            "participants": [asdict(p) for p in self.participants],
            "rounds": [asdict(r) for r in self.rounds],
            "final": self.final,
            "model": self.model,
            "vertical": self.vertical,
        }

    def write(self, status: str, error: str | None = None) -> dict[str, Any]:
        """Write the result file (if any) atomically; the document."""
        document = self.document(status, error)
        if self.result_path:
            target = Path(self.result_path)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2, allow_nan=True)
                out.write("\n")
            os.replace(tmp, target)
        return document


def read_result(path: Path) -> dict[str, Any]:
    """A result file's document; raises ``ValueError`` if it is not one."""
    document = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(document, Mapping) or document.get("format") != RESULT_FORMAT:
        raise ValueError(f"{path} is not a {RESULT_FORMAT} document")
    return dict(document)
