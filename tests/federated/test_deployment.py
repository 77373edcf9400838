"""Real Flower Deployment Engine federations on loopback, and that nothing outlives them.

SuperLink + two SuperNodes + ``flwr run``, as the demo runs them; then the processes each
test started are looked up in /proc: none may be left, whether the run succeeded, failed,
or its orchestrator was interrupted midway.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from federated import task
from federated.demo import Prepared
from federated.loopback import FederationError, LoopbackFederation
from federated.manifest import load_manifest
from federated.processes import alive, descendants
from federated.result import progress_path

pytestmark = pytest.mark.deployment


def test_a_loopback_federation_with_secagg_and_dp_writes_its_result(
    horizontal_data: Prepared, tmp_path: Path
) -> None:
    result = tmp_path / "out" / "result.json"
    with LoopbackFederation(tmp_path / "fed", horizontal_data.participants) as federation:
        federation.start()
        rounds: list[dict[str, object]] = []
        document = federation.run(
            {"num-server-rounds": 1, "result-path": str(result), "agreement-id": "agr_demo"},
            timeout=240,
            on_round=rounds.append,
        )
        tree = federation.supervisor.tree()
        assert len(tree) >= 5  # SuperLink, 2 SuperNodes and their SuperExecs at least
    assert alive(tree) == []

    on_disk = json.loads(result.read_text())
    assert on_disk == document
    assert document["status"] == "succeeded"
    assert document["agreement_id"] == "agr_demo"
    assert [r["round"] for r in document["rounds"]] == [1] == [r["round"] for r in rounds]
    assert len(progress_path(result).read_text().splitlines()) == 1
    assert 0.5 < document["final"]["auc"] <= 1.0
    privacy = document["privacy"]
    assert privacy["secure_aggregation"]["enabled"] is True
    assert privacy["differential_privacy"]["enabled"] is True
    assert privacy["differential_privacy"]["noise_multiplier"] == 0.8
    model = document["model"]
    params = [
        np.asarray(model["parameters"]["weights"]),
        np.asarray([model["parameters"]["bias"]]),
    ]
    assert model["sha256"] == task.model_sha256(params)
    by_party = {p["party"]: p for p in document["participants"]}
    for party in horizontal_data.parties:
        config = horizontal_data.node_configs[party.party]
        manifest = load_manifest(
            Path(config["cohort-manifest"]), Path(config["manifest-public-key"])
        )
        assert by_party[party.party]["manifest_sha256"] == manifest.sha256
        assert by_party[party.party]["cohort_size"] == len(manifest) == len(party.consented_ids)
    assert document["app"]["flwr_version"].startswith("1.42")


def test_a_refused_manifest_fails_the_run_and_every_process_stops(
    horizontal_data: Prepared, tmp_path: Path
) -> None:
    path = Path(horizontal_data.node_configs["brand-a"]["cohort-manifest"])
    document = json.loads(path.read_text())
    document["party"] = "brand-b"  # re-addressed after signing
    path.write_text(json.dumps(document))
    federation = LoopbackFederation(tmp_path / "fed", horizontal_data.participants)
    try:
        federation.start()
        with pytest.raises(FederationError, match="signature does not verify"):
            federation.run({"result-path": str(tmp_path / "r.json")}, timeout=120)
        tree = federation.supervisor.tree()
    finally:
        federation.stop()
    assert tree
    assert alive(tree) == []
    failed = json.loads((tmp_path / "r.json").read_text())
    assert failed["status"] == "failed"


def test_interrupting_the_demo_midway_stops_every_process_it_started(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "federated.demo",
            "--mode",
            "horizontal",
            "--customers",
            "600",
            "--rounds",
            "3",
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 90
        tree: dict[int, int] = {}
        while time.monotonic() < deadline:
            tree = descendants(demo.pid)
            names = {
                Path(f"/proc/{pid}/cmdline").read_bytes()
                for pid in tree
                if Path(f"/proc/{pid}").exists()
            }
            if any(b"flwr-clientapp" in n or b"flwr-serverapp" in n for n in names):
                break  # the run is under way
            time.sleep(0.2)
        assert len(tree) >= 5
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, output.decode(errors="replace")[-2000:]
    assert b"interrupted" in output
    assert alive(tree) == []
