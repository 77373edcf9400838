"""The model's arithmetic: AUC, training, serialisation, synthetic ground truth, PSI."""

from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

import numpy as np
import pytest

from federated import psi, synthetic, task
from federated.config import DEFAULTS, RunSettings
from federated.loopback import APP_DIR
from federated.privacy import gaussian_epsilon
from federated.rows import RowSourceError, is_test_row, read_rows


def _pairwise_auc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum(1.0 if p > q else 0.5 if p == q else 0.0 for p, q in itertools.product(pos, neg))
    return wins / (pos.size * neg.size)


def test_rank_auc_equals_the_pairwise_definition_with_ties() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 200).astype(float)
    s = np.round(rng.random(200), 1)  # many ties
    assert task.auc(y, s) == pytest.approx(_pairwise_auc(y, s))


def test_histogram_auc_is_close_to_the_exact_auc() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 3000).astype(float)
    s = 1 / (1 + np.exp(-(y * 1.5 + rng.normal(size=3000))))
    pos, neg = task.score_histograms(y, s)
    assert task.auc_from_histograms(pos, neg) == pytest.approx(task.auc(y, s), abs=2e-3)


def test_model_hash_is_stable_and_changes_with_any_parameter() -> None:
    params = [np.array([0.5, -1.25]), np.array([0.1])]
    assert task.model_sha256(params) == task.model_sha256([p.copy() for p in params])
    nudged = [np.array([0.5, -1.25]), np.array([0.1 + 1e-12])]
    assert task.model_sha256(nudged) != task.model_sha256(params)


def test_parameters_survive_an_array_record() -> None:
    params = [np.array([0.5, -1.25, 3.0]), np.array([0.1])]
    back = task.from_array_record(task.to_array_record(params))
    assert all(np.array_equal(a, b) for a, b in zip(params, back, strict=True))


def test_training_recovers_the_ground_truth_directions() -> None:
    pop = synthetic.population(6000, 5)
    scaling = task.pooled_standardisation([task.moments(pop.x)])
    params = task.train(
        task.init_params(pop.x.shape[1]),
        scaling.apply(pop.x),
        pop.y.astype(float),
        task.TrainConfig(epochs=5),
        np.random.default_rng(0),
    )
    truth = np.array([synthetic.TRUE_COEFFICIENTS[f] for f in synthetic.ALL_FEATURES])
    strong = np.abs(truth) >= 0.4
    assert np.all(np.sign(params[0][strong]) == np.sign(truth[strong]))
    assert np.corrcoef(params[0], truth)[0, 1] > 0.9


def test_synthetic_data_is_seeded_and_both_parties_matter() -> None:
    retailer, bank = synthetic.vertical(3000, 9)
    again, _ = synthetic.vertical(3000, 9)
    assert retailer.ids == again.ids
    assert np.array_equal(retailer.x, again.x)
    shared = set(retailer.ids) & set(bank.ids)
    assert 0.8 * len(retailer.ids) < len(shared) < len(retailer.ids)
    assert bank.y is None and retailer.y is not None
    pop = synthetic.population(3000, 9)
    y = pop.y.astype(float)
    both = task.auc(y, pop.true_logit)
    retailer_cols = [synthetic.ALL_FEATURES.index(f) for f in synthetic.RETAILER_FEATURES]
    scaled = task.pooled_standardisation([task.moments(pop.x)]).apply(pop.x)
    beta = np.array([synthetic.TRUE_COEFFICIENTS[f] for f in synthetic.RETAILER_FEATURES])
    assert task.auc(y, scaled[:, retailer_cols] @ beta) < both - 0.03


def test_rows_read_from_jsonl_and_csv_alike(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text(
        '{"subject": "a", "values": {"x": 1, "z": 2.5, "label": 1}}\n'
        '{"subject": "b", "values": {"x": 3, "z": 0, "label": 0}}\n'
    )
    (tmp_path / "r.csv").write_text("subject,x,z,label\na,1,2.5,1\nb,3,0,0\n")
    for name in ("r.jsonl", "r.csv"):
        rows = read_rows(tmp_path / name, "label")
        assert rows.ids == ("a", "b")
        assert rows.features == ("x", "z")
        assert rows.x.tolist() == [[1.0, 2.5], [3.0, 0.0]]
        assert rows.y is not None and rows.y.tolist() == [1.0, 0.0]


def test_a_non_numeric_value_is_named_by_field_never_by_value(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text(
        '{"subject": "a", "values": {"phone": "+86 138 0013 8000"}}\n'
    )
    with pytest.raises(RowSourceError) as caught:
        read_rows(tmp_path / "r.jsonl", "label")
    assert "phone" in str(caught.value)
    assert "0013" not in str(caught.value)


def test_the_held_out_split_depends_on_the_id_only() -> None:
    ids = [f"c{i}" for i in range(5000)]
    share = np.mean([is_test_row(c, 0.2) for c in ids])
    assert 0.18 < share < 0.22
    assert [is_test_row(c, 0.2) for c in ids[:50]] == [is_test_row(c, 0.2) for c in ids[:50]]


def test_dh_psi_matches_exactly_the_shared_ids() -> None:
    a, b = psi.PsiKey(), psi.PsiKey()
    mine = [f"{i:064x}" for i in range(0, 300)]
    theirs = [f"{i:064x}" for i in range(200, 500)]
    left, right = psi.align(b.raise_points(a.blind(mine)), a.raise_points(b.blind(theirs)))
    assert len(left) == 100
    assert [mine[i] for i in left] == [theirs[j] for j in right]
    assert a.blind(mine[:3]) != b.blind(mine[:3])  # single-blinded values do not match
    assert psi.PsiKey.from_bytes(a.to_bytes()).blind(mine[:2]) == a.blind(mine[:2])


def test_epsilon_falls_as_noise_grows_and_rises_with_rounds() -> None:
    assert gaussian_epsilon(2.0, 5, 1e-5) < gaussian_epsilon(0.8, 5, 1e-5)
    assert gaussian_epsilon(0.8, 10, 1e-5) > gaussian_epsilon(0.8, 5, 1e-5)
    assert 5 < gaussian_epsilon(1.0, 5, 1e-5) < 15


def test_the_app_config_defaults_match_the_settings_defaults() -> None:
    app = tomllib.loads((APP_DIR / "pyproject.toml").read_text())
    assert app["tool"]["flwr"]["app"]["config"] == DEFAULTS
    settings = RunSettings.from_run_config({})
    assert settings.secagg and settings.dp


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"mode": "vertical"}, "neither SecAgg"),
        ({"dp-noise-multiplier": 0.0}, "must be > 0"),
        ({"min-nodes": 1}, "at least 2"),
        ({"secagg": "yes"}, "true or false"),
    ],
)
def test_settings_that_would_weaken_privacy_or_cannot_run_are_refused(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RunSettings.from_run_config(override)
