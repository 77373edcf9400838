"""Centralised baselines on the very rows a federation used, for comparison.

Each baseline reads the participants' rows through the same seam as the ClientApps
(:func:`federated.rows.load_cohort` with their node configs: same manifests, same
filtering), splits them by the same customer-id hash, and trains the same model with all
rows in one place. :func:`score_model` evaluates a federated horizontal model (from its
result document) on the same pooled held-out rows, so both AUCs are exact and comparable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from federated import task
from federated.horizontal import split
from federated.psi import PsiKey, align
from federated.rows import Rows, is_test_row, load_cohort
from federated.vertical import BlockState, label_newton_steps

__all__ = ["Pooled", "horizontal_baseline", "pooled_rows", "score_model", "vertical_baseline"]


@dataclass(frozen=True)
class Pooled:
    """Every participant's training rows together, and their held-out rows together."""

    features: tuple[str, ...]
    x_train: NDArray[np.float64]
    y_train: NDArray[np.float64]
    x_test: NDArray[np.float64]
    y_test: NDArray[np.float64]


def pooled_rows(
    node_configs: Sequence[Mapping[str, Any]], label_field: str, test_fraction: float
) -> Pooled:
    """The participants' consent-gated rows, split as the federation splits them."""
    trains: list[Rows] = []
    tests: list[Rows] = []
    for node_config in node_configs:
        cohort = load_cohort(node_config, label_field)
        train_rows, test_rows = split(cohort.rows, test_fraction)
        trains.append(train_rows)
        tests.append(test_rows)
    features = trains[0].features

    def stack(parts: list[Rows]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        ys = [p.y for p in parts if p.y is not None]
        return np.vstack([p.x for p in parts]), np.concatenate(ys)

    x_train, y_train = stack(trains)
    x_test, y_test = stack(tests)
    return Pooled(features, x_train, y_train, x_test, y_test)


def horizontal_baseline(
    pooled: Pooled, *, epochs: int, config: task.TrainConfig, seed: int
) -> dict[str, float]:
    """Train on the pooled rows (``epochs`` passes); metrics on the pooled held-out rows."""
    scaling = task.pooled_standardisation([task.moments(pooled.x_train)])
    params = task.train(
        task.init_params(pooled.x_train.shape[1]),
        scaling.apply(pooled.x_train),
        pooled.y_train,
        task.TrainConfig(
            epochs=epochs,
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            l2=config.l2,
        ),
        np.random.default_rng(seed),
    )
    return task.evaluate(params, scaling.apply(pooled.x_test), pooled.y_test)


def score_model(model: Mapping[str, Any], pooled: Pooled) -> dict[str, float]:
    """A result document's horizontal model, evaluated on the pooled held-out rows."""
    scaling = task.Standardisation(
        np.asarray(model["standardisation"]["mean"], dtype=np.float64),
        np.asarray(model["standardisation"]["std"], dtype=np.float64),
    )
    params = [
        np.asarray(model["parameters"]["weights"], dtype=np.float64),
        np.asarray([model["parameters"]["bias"]], dtype=np.float64),
    ]
    return task.evaluate(params, scaling.apply(pooled.x_test), pooled.y_test)


def vertical_baseline(
    label_config: Mapping[str, Any],
    feature_config: Mapping[str, Any],
    label_field: str,
    test_fraction: float,
    *,
    l2: float = 1e-4,
    iterations: int = 25,
) -> dict[str, float]:
    """Both parties' features joined on the shared consented customers; Newton to optimum.

    Alignment goes through the same PSI as the federation (the result is the same set),
    then one logistic regression on the joined features (each block standardised on its
    training rows, as the parties do), fitted by Newton's method to convergence.
    """
    label = load_cohort(label_config, label_field, need_blinded_ids=True)
    other = load_cohort(feature_config, label_field, need_blinded_ids=True)
    a, b = PsiKey(), PsiKey()
    mine, theirs = align(
        b.raise_points(a.blind(label.blinded_ids)), a.raise_points(b.blind(other.blinded_ids))
    )
    left = label.rows.take(np.asarray(mine, dtype=np.intp))
    right = other.rows.take(np.asarray(theirs, dtype=np.intp))
    test = np.asarray([is_test_row(cid, test_fraction) for cid in left.ids], dtype=bool)
    assert left.y is not None

    def block(x: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        scaling = task.pooled_standardisation([task.moments(x[~test])])
        return scaling.apply(x[~test]), scaling.apply(x[test])

    joined_train, joined_test = block(np.hstack([left.x, right.x]))
    state = BlockState(
        x_train=joined_train,
        x_test=joined_test,
        weights=np.zeros(joined_train.shape[1] + 1),
        y_train=left.y[~test],
        y_test=left.y[test],
    )
    label_newton_steps(state, np.zeros(joined_train.shape[0]), l2, steps=iterations)
    params = [state.weights[:-1], state.weights[-1:]]
    return task.evaluate(params, joined_test, left.y[test])
