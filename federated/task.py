"""The model and its arithmetic: logistic regression in numpy, AUC, serialisation.

Predicts *high spending capacity* (0/1) from standardised features. Parameters are a list
of two arrays, ``[weights (d,), bias (1,)]``, in that order everywhere: in Flower
``ArrayRecord``s (keys ``weights`` and ``bias``), in the run result, in the model hash.

Features are standardised with a mean and standard deviation that the federation agrees on
first (:func:`moments` per participant, :func:`pooled_standardisation` at the server), so
every participant and the centralised baseline scale them the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from flwr.app import Array, ArrayRecord
from numpy.typing import NDArray

__all__ = [
    "AUC_BINS",
    "Params",
    "Standardisation",
    "TrainConfig",
    "auc",
    "auc_from_histograms",
    "evaluate",
    "from_array_record",
    "init_params",
    "log_loss",
    "model_sha256",
    "moments",
    "pooled_standardisation",
    "predict_proba",
    "score_histograms",
    "serialise_params",
    "to_array_record",
    "train",
]

Params = list[NDArray[np.float64]]
#: Bins of the score histograms that participants share to compute a pooled AUC.
AUC_BINS = 1000


@dataclass(frozen=True)
class Standardisation:
    """Per-feature mean and standard deviation (zeros get a deviation of 1)."""

    mean: NDArray[np.float64]
    std: NDArray[np.float64]

    def apply(self, x: NDArray[np.float64]) -> NDArray[np.float64]:
        """``x`` centred and scaled."""
        return (x - self.mean) / self.std


@dataclass(frozen=True)
class TrainConfig:
    """Local training: epochs over the rows, mini-batch size, step size, L2 penalty."""

    epochs: int = 2
    batch_size: int = 64
    learning_rate: float = 0.1
    l2: float = 1e-4


def init_params(num_features: int) -> Params:
    """Zero weights and bias (deterministic, so no seed is needed to start)."""
    return [np.zeros(num_features, dtype=np.float64), np.zeros(1, dtype=np.float64)]


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def predict_proba(
    params: Sequence[NDArray[np.float64]], x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """The predicted probability of the positive class for each row of ``x``."""
    return _sigmoid(x @ params[0] + params[1][0])


def log_loss(
    params: Sequence[NDArray[np.float64]], x: NDArray[np.float64], y: NDArray[np.float64]
) -> float:
    """Mean binary cross-entropy."""
    p = np.clip(predict_proba(params, x), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def train(
    params: Sequence[NDArray[np.float64]],
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    config: TrainConfig,
    rng: np.random.Generator,
) -> Params:
    """Mini-batch gradient descent on the L2-penalised log loss; new parameters."""
    w = np.array(params[0], dtype=np.float64, copy=True)
    b = float(params[1][0])
    n = x.shape[0]
    for _ in range(config.epochs):
        order = rng.permutation(n)
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            xb, yb = x[batch], y[batch]
            residual = _sigmoid(xb @ w + b) - yb
            w -= config.learning_rate * (xb.T @ residual / batch.size + config.l2 * w)
            b -= config.learning_rate * float(residual.mean())
    return [w, np.array([b], dtype=np.float64)]


def auc(y: NDArray[np.float64], scores: NDArray[np.float64]) -> float:
    """Area under the ROC curve by ranks (ties share their mean rank); NaN with one class."""
    y = np.asarray(y, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    positives = float(y.sum())
    negatives = float(y.size - positives)
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(scores.size, dtype=np.float64)
    i = 0
    while i < scores.size:  # average ranks over runs of equal scores
        j = i
        while j + 1 < scores.size and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    rank_sum = float(ranks[y == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def score_histograms(
    y: NDArray[np.float64], scores: NDArray[np.float64], bins: int = AUC_BINS
) -> tuple[list[int], list[int]]:
    """Counts of positives and negatives per score bin on [0, 1] (shareable aggregates)."""
    index = np.clip((np.asarray(scores) * bins).astype(np.int64), 0, bins - 1)
    pos = np.bincount(index[y == 1], minlength=bins)
    neg = np.bincount(index[y == 0], minlength=bins)
    return [int(v) for v in pos], [int(v) for v in neg]


def auc_from_histograms(pos: Sequence[float], neg: Sequence[float]) -> float:
    """AUC from pooled score histograms (pairs within one bin count one half)."""
    p = np.asarray(pos, dtype=np.float64)
    q = np.asarray(neg, dtype=np.float64)
    if p.sum() == 0 or q.sum() == 0:
        return float("nan")
    negatives_below = np.cumsum(q) - q
    wins = float((p * (negatives_below + 0.5 * q)).sum())
    return wins / float(p.sum() * q.sum())


def evaluate(
    params: Sequence[NDArray[np.float64]], x: NDArray[np.float64], y: NDArray[np.float64]
) -> dict[str, float]:
    """Loss, AUC and accuracy (threshold 0.5) on labelled rows."""
    p = predict_proba(params, x)
    return {
        "loss": log_loss(params, x, y),
        "auc": auc(y, p),
        "accuracy": float(np.mean((p >= 0.5) == (y == 1))),
    }


def moments(x: NDArray[np.float64]) -> tuple[int, NDArray[np.float64], NDArray[np.float64]]:
    """Row count, per-feature sums and sums of squares (what standardisation needs)."""
    return int(x.shape[0]), x.sum(axis=0), (x * x).sum(axis=0)


def pooled_standardisation(
    parts: Sequence[tuple[int, NDArray[np.float64], NDArray[np.float64]]],
) -> Standardisation:
    """The mean and deviation of all participants' rows from their :func:`moments`."""
    count = sum(n for n, _, _ in parts)
    if count == 0:
        raise ValueError("no rows to standardise")
    total = np.sum([s for _, s, _ in parts], axis=0)
    squares = np.sum([q for _, _, q in parts], axis=0)
    mean = total / count
    var = np.maximum(squares / count - mean * mean, 0.0)
    std = np.sqrt(var)
    std[std < 1e-12] = 1.0
    return Standardisation(mean=mean, std=std)


def to_array_record(params: Sequence[NDArray[np.float64]]) -> ArrayRecord:
    """The parameters as an ``ArrayRecord`` (``weights``, ``bias``)."""
    return ArrayRecord(
        {"weights": Array(np.asarray(params[0])), "bias": Array(np.asarray(params[1]))}
    )


def from_array_record(record: ArrayRecord) -> Params:
    """The parameters from an ``ArrayRecord`` written by :func:`to_array_record`."""
    return [
        record["weights"].numpy().astype(np.float64),
        record["bias"].numpy().astype(np.float64),
    ]


def serialise_params(params: Sequence[NDArray[np.float64]]) -> bytes:
    """Canonical bytes of a model: per array, ``name|shape|`` then little-endian float64."""
    out = bytearray(b"logreg/1\n")
    for name, array in zip(("weights", "bias"), params, strict=True):
        data = np.ascontiguousarray(array, dtype="<f8")
        out += f"{name}|{','.join(map(str, data.shape))}|".encode("ascii")
        out += data.tobytes()
    return bytes(out)


def model_sha256(params: Sequence[NDArray[np.float64]]) -> str:
    """SHA-256 (hex) of :func:`serialise_params` — the model's identity in its lineage."""
    return hashlib.sha256(serialise_params(params)).hexdigest()
