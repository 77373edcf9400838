"""The loopback demo: synthetic partners, a real Flower federation, a centralised baseline.

``make federated-demo``, ``governance federated demo`` or ``python -m federated.demo``:

1. generates seeded synthetic data (:mod:`federated.synthetic`) into a work folder, with
   the keys a platform would hold (an agreement's blinding key, an Ed25519 manifest
   signing key) and one signed cohort manifest per party (the consented customers);
2. starts a SuperLink and two SuperNodes on 127.0.0.1 (:mod:`federated.loopback`) and
   runs the app with ``flwr run``: horizontally (two brands, SecAgg+ and DP on unless
   switched off) and/or vertically (the retailer and the bank: PSI, then split learning);
3. prints each round's pooled metrics as they come, then the federated AUC next to a
   centralised model's on the same rows (:mod:`federated.baseline`);
4. stops every process it started — at the end, on failure, on Ctrl-C or SIGTERM.

:func:`prepare` (data, keys, manifests, node configs) is what tests and benches reuse.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federated import baseline, synthetic, task
from federated.config import DEFAULTS
from federated.loopback import LoopbackFederation, Participant
from federated.manifest import blind_id, build_manifest, sign_manifest
from federated.processes import handle_signals

__all__ = ["Prepared", "prepare", "run_demo", "run_mode"]

AGREEMENT_ID = "agr_demo"
SIGNING_KEY_ID = "platform-manifest-demo"
BLINDING_KEY_ID = "agr_demo/blinding/1"


@dataclass
class Prepared:
    """A mode's data on disk: per party, its node config; plus the data itself."""

    mode: str
    workdir: Path
    parties: list[synthetic.PartyData]
    node_configs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def participants(self) -> list[Participant]:
        """The SuperNodes to start."""
        return [Participant(p.party, self.node_configs[p.party]) for p in self.parties]


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text)


def prepare(
    mode: str, workdir: Path, *, customers: int = 4000, seed: int = 7, manifests: bool = True
) -> Prepared:
    """Write ``mode``'s synthetic rows, keys and signed manifests under ``workdir``."""
    parties = list(
        synthetic.horizontal(customers, seed)
        if mode == "horizontal"
        else synthetic.vertical(customers, seed)
    )
    folder = workdir / mode
    keys = folder / "keys"
    blinding = os.urandom(32)
    _write_secret(keys / "blinding.key", blinding.hex())
    signer = Ed25519PrivateKey.generate()
    public_pem = keys / "manifest-signing.pub.pem"
    public_pem.write_bytes(
        signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    prepared = Prepared(mode=mode, workdir=folder, parties=parties)
    now = dt.datetime.now(dt.UTC)
    for party in parties:
        rows = synthetic.write_rows(party, folder / f"{party.party}.jsonl")
        config = {
            "party": party.party,
            "data-path": str(rows),
            "blinding-key": str(keys / "blinding.key"),
        }
        if manifests:
            document = build_manifest(
                agreement_id=AGREEMENT_ID,
                party=party.party,
                blinded_ids=[blind_id(blinding, cid) for cid in party.consented_ids],
                blinding_key_id=BLINDING_KEY_ID,
                issued_at=now,
                expires_at=now + dt.timedelta(days=1),
            )
            signed = sign_manifest(document, signer, SIGNING_KEY_ID)
            path = folder / f"{party.party}.manifest.json"
            path.write_text(task_json(signed), encoding="utf-8")
            config.update({"cohort-manifest": str(path), "manifest-public-key": str(public_pem)})
        prepared.node_configs[party.party] = config
    return prepared


def task_json(document: dict[str, Any]) -> str:
    """A manifest as written to disk (indented; the signature covers canonical bytes)."""
    import json

    return json.dumps(document, indent=1) + "\n"


def run_mode(
    prepared: Prepared,
    run_config: dict[str, Any],
    *,
    say: Callable[[str], None] = print,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """Start a loopback federation for ``prepared``, run once, stop; the result document."""
    rounds = int(run_config.get("num-server-rounds", DEFAULTS["num-server-rounds"]))

    def on_round(metrics: dict[str, Any]) -> None:
        say(
            f"  round {metrics['round']}/{rounds}  AUC {metrics['auc']:.4f}  "
            f"loss {metrics['loss']:.4f}  accuracy {metrics['accuracy']:.3f}  "
            f"({metrics['seconds']:.1f} s)"
        )

    with LoopbackFederation(prepared.workdir / "federation", prepared.participants) as federation:
        started = time.monotonic()
        federation.start()
        say(f"  SuperLink on 127.0.0.1:{federation.port}, {len(prepared.participants)} SuperNodes")
        document = federation.run(run_config, timeout=timeout, on_round=on_round)
        document["demo_wall_seconds"] = time.monotonic() - started
    return document


def _compare_horizontal(
    prepared: Prepared, document: dict[str, Any], say: Callable[[str], None]
) -> dict[str, float]:
    settings = document["settings"]
    label = str(settings.get("label-field", DEFAULTS["label-field"]))
    fraction = float(settings.get("test-fraction", DEFAULTS["test-fraction"]))
    pooled = baseline.pooled_rows(list(prepared.node_configs.values()), label, fraction)
    epochs = int(settings.get("num-server-rounds", 5)) * int(settings.get("local-epochs", 2))
    central = baseline.horizontal_baseline(
        pooled, epochs=epochs, config=task.TrainConfig(), seed=int(settings.get("seed", 42))
    )
    federated = baseline.score_model(document["model"], pooled)
    say(
        f"  centralised AUC {central['auc']:.4f}  federated AUC {federated['auc']:.4f}  "
        f"difference {federated['auc'] - central['auc']:+.4f}  (pooled held-out rows: "
        f"{pooled.y_test.size})"
    )
    return {"central_auc": central["auc"], "federated_auc": federated["auc"]}


def _compare_vertical(
    prepared: Prepared, document: dict[str, Any], say: Callable[[str], None]
) -> dict[str, float]:
    settings = document["settings"]
    label = str(settings.get("label-field", DEFAULTS["label-field"]))
    fraction = float(settings.get("test-fraction", DEFAULTS["test-fraction"]))
    retailer, bank = prepared.parties
    central = baseline.vertical_baseline(
        prepared.node_configs[retailer.party], prepared.node_configs[bank.party], label, fraction
    )
    federated_auc = float(document["final"]["auc"])
    say(
        f"  centralised AUC {central['auc']:.4f}  federated AUC {federated_auc:.4f}  "
        f"difference {federated_auc - central['auc']:+.4f}  (shared customers: "
        f"{document['vertical']['intersection_size']})"
    )
    return {"central_auc": central["auc"], "federated_auc": federated_auc}


def _describe(document: dict[str, Any], say: Callable[[str], None]) -> None:
    for p in document["participants"]:
        say(
            f"  {p['party']}: {p['rows_read']} rows read, cohort {p['cohort_size']} "
            f"(train {p['train_rows']}, held out {p['test_rows']}), manifest "
            f"{(p['manifest_sha256'] or 'none')[:16]}"
        )
    dp = document["privacy"]["differential_privacy"]
    sa = document["privacy"]["secure_aggregation"]
    say(
        f"  SecAgg+ {'on' if sa['enabled'] else 'off'}; DP "
        + (
            f"on (z={dp['noise_multiplier']}, C={dp['clipping_norm']}, "
            f"epsilon={dp['epsilon']:.2f} at delta={dp['delta']:g})"
            if dp["enabled"]
            else "off"
        )
    )
    say(f"  model sha256 {document['model']['sha256']}  ({document['wall_seconds']:.1f} s run)")


def run_demo(
    *,
    mode: str = "both",
    rounds: int = 5,
    customers: int = 4000,
    seed: int = 7,
    secagg: bool = True,
    dp: bool = True,
    workdir: Path | None = None,
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the demo (see the module docstring); each mode's result document.

    Raises :class:`Interrupted` on SIGINT/SIGTERM and :class:`FederationError` when a run
    fails — after every process started was stopped.
    """
    folder = workdir or Path(tempfile.mkdtemp(prefix="federated-demo-"))
    modes = ["horizontal", "vertical"] if mode == "both" else [mode]
    documents = []
    try:
        with handle_signals():
            for current in modes:
                say(f"== {current}: synthetic data (seed {seed}) in {folder / current}")
                prepared = prepare(current, folder, customers=customers, seed=seed)
                config: dict[str, Any] = {
                    "mode": current,
                    "num-server-rounds": rounds,
                    "agreement-id": AGREEMENT_ID,
                }
                if current == "vertical":
                    config.update({"secagg": False, "dp": False})
                else:
                    config.update({"secagg": secagg, "dp": dp})
                document = run_mode(prepared, config, say=say)
                _describe(document, say)
                compare = _compare_horizontal if current == "horizontal" else _compare_vertical
                document["comparison"] = compare(prepared, document, say)
                documents.append(document)
    finally:
        if workdir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return documents


if __name__ == "__main__":
    from federated.cli import demo_command

    demo_command()
