"""The ServerApp and ClientApp code end to end in one process (no Flower processes).

Same handlers, mods, SecAgg+ masking, DP noise, PSI and split learning as a deployment;
fast enough to compare accuracy with centralised training on every run of the suite.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from federated import baseline, task
from federated.demo import Prepared
from federated.local import run_in_process
from federated.manifest import load_manifest
from federated.result import progress_path
from federated.rows import load_cohort

LABEL = "high_spending_capacity"


def _centralised_and_federated(data: Prepared, document: dict[str, object]) -> tuple[float, float]:
    pooled = baseline.pooled_rows(list(data.node_configs.values()), LABEL, 0.2)
    rounds, epochs = 5, 2
    central = baseline.horizontal_baseline(
        pooled, epochs=rounds * epochs, config=task.TrainConfig(), seed=42
    )
    federated = baseline.score_model(document["model"], pooled)  # type: ignore[arg-type]
    return central["auc"], federated["auc"]


def test_horizontal_federated_auc_is_within_001_of_centralised(
    horizontal_data: Prepared, tmp_path: Path
) -> None:
    document = run_in_process(
        list(horizontal_data.node_configs.values()),
        {"result-path": str(tmp_path / "r.json"), "secagg": False, "dp": False},
    )
    central, federated = _centralised_and_federated(horizontal_data, document)
    assert abs(federated - central) <= 0.01
    assert document["final"]["auc"] == pytest.approx(federated, abs=0.005)  # type: ignore[index]


@pytest.fixture
def seeded_noise() -> Iterator[None]:
    """Seed numpy's global generator, which Flower's DP noise draws from, for one test.

    Deployments leave it unseeded on purpose: noise anyone could replay protects nothing.
    """
    state = np.random.get_state()
    np.random.seed(1)
    yield
    np.random.set_state(state)


@pytest.mark.usefixtures("seeded_noise")
def test_with_secagg_and_dp_the_auc_is_within_003_and_the_privacy_is_recorded(
    horizontal_data: Prepared, tmp_path: Path
) -> None:
    result = tmp_path / "r.json"
    document = run_in_process(
        list(horizontal_data.node_configs.values()), {"result-path": str(result)}
    )
    central, federated = _centralised_and_federated(horizontal_data, document)
    assert abs(federated - central) <= 0.03
    privacy = document["privacy"]
    assert privacy["secure_aggregation"]["enabled"] is True
    dp = privacy["differential_privacy"]
    assert dp["enabled"] is True
    assert (dp["noise_multiplier"], dp["clipping_norm"]) == (0.8, 0.4)
    assert dp["noise_std"] == pytest.approx(0.8 * 0.4 / 2)
    assert 0 < dp["epsilon"] < 50
    assert json.loads(result.read_text())["status"] == "succeeded"
    assert len(progress_path(result).read_text().splitlines()) == 5


def test_the_result_records_cohorts_manifests_and_the_model_hash(
    horizontal_data: Prepared, tmp_path: Path
) -> None:
    document = run_in_process(
        list(horizontal_data.node_configs.values()),
        {"result-path": str(tmp_path / "r.json"), "num-server-rounds": 2, "agreement-id": "agr_x"},
    )
    assert document["agreement_id"] == "agr_x"
    assert [r["round"] for r in document["rounds"]] == [1, 2]
    by_party = {p["party"]: p for p in document["participants"]}
    assert set(by_party) == {"brand-a", "brand-b"}
    for party in horizontal_data.parties:
        config = horizontal_data.node_configs[party.party]
        reported = by_party[party.party]
        manifest = load_manifest(
            Path(config["cohort-manifest"]), Path(config["manifest-public-key"])
        )
        assert reported["manifest_sha256"] == manifest.sha256
        assert reported["cohort_size"] == len(party.consented_ids) == len(manifest)
        assert reported["rows_read"] == len(party.ids)
        assert reported["train_rows"] + reported["test_rows"] == reported["cohort_size"]
    model = document["model"]
    params = [
        np.asarray(model["parameters"]["weights"]),
        np.asarray([model["parameters"]["bias"]]),
    ]
    assert model["sha256"] == task.model_sha256(params)


def test_a_participant_with_a_bad_manifest_signature_stops_the_run(
    horizontal_data: Prepared, tmp_path: Path
) -> None:
    config = horizontal_data.node_configs["brand-b"]
    path = Path(config["cohort-manifest"])
    document = json.loads(path.read_text())
    document["blinded_ids"] = document["blinded_ids"][1:]
    document["count"] -= 1
    path.write_text(json.dumps(document))
    result = tmp_path / "r.json"
    with pytest.raises(RuntimeError, match="signature does not verify"):
        run_in_process(list(horizontal_data.node_configs.values()), {"result-path": str(result)})
    failed = json.loads(result.read_text())
    assert failed["status"] == "failed"
    assert "ManifestError" in failed["error"]
    assert failed["model"] is None


def test_vertical_split_learning_is_within_001_of_centralised(
    vertical_data: Prepared, tmp_path: Path
) -> None:
    document = run_in_process(
        list(vertical_data.node_configs.values()),
        {"result-path": str(tmp_path / "v.json"), "mode": "vertical", "secagg": False, "dp": False},
    )
    central = baseline.vertical_baseline(
        vertical_data.node_configs["retailer"], vertical_data.node_configs["bank"], LABEL, 0.2
    )
    assert abs(document["final"]["auc"] - central["auc"]) <= 0.01
    retailer = load_cohort(vertical_data.node_configs["retailer"], LABEL)
    bank = load_cohort(vertical_data.node_configs["bank"], LABEL)
    assert document["vertical"]["intersection_size"] == len(
        set(retailer.rows.ids) & set(bank.rows.ids)
    )
    assert document["vertical"]["label_party"] == "retailer"
    assert document["model"]["kind"] == "split-logistic-regression"
    assert [p["party"] for p in document["participants"]] == ["retailer", "bank"]


def test_vertical_mode_refuses_to_run_with_privacy_it_cannot_provide(
    vertical_data: Prepared, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="neither SecAgg"):
        run_in_process(
            list(vertical_data.node_configs.values()),
            {"result-path": str(tmp_path / "v.json"), "mode": "vertical"},
        )
