"""Vertical federated training: same customers, different features, split learning.

Two parties: the **label party** (its rows hold the label; the retailer in the demo) and
the **feature party** (the bank). A run, from the ServerApp (:func:`run_vertical`):

1. **setup** (``query.vertical_setup``): each party loads its consent-gated rows, blinds
   their ids with the agreement key, and sends them once more blinded with a fresh X25519
   scalar (:mod:`federated.psi`), plus a fresh X25519 public key for an end-to-end channel
   to the other party.
2. **psi_exponentiate**: each raises the other's points to its own scalar.
3. **psi_align**: the coordinator matches the double-blinded values and tells each party
   which of its rows are shared, in one agreed order (and hands over the peer's channel
   key). Each party standardises its own features on its own aligned training rows and
   splits held-out rows by customer-id hash (the same split on both sides).
4. **rounds** of block-coordinate Newton descent on the logistic loss:
   the label party receives the feature party's partial logits, takes Newton steps on its
   own weights and the bias, and sends back the residuals ``p - y`` and curvature weights
   ``p(1-p)``; the feature party takes a Newton step on its own weights and sends back its
   new partial logits. Both payloads are AES-GCM encrypted between the parties (X25519 +
   HKDF): the coordinator relays ciphertext it cannot read.
5. a last **label_step** evaluates the final model on the held-out aligned rows.

What is exchanged, and so what each side learns: the feature party learns residuals (from
which the label's sign of each shared customer follows) and the label party learns the
feature party's partial score per shared customer; raw features never leave either party,
and the coordinator learns the intersection's size and the metrics. Protecting residuals
too needs homomorphic encryption (as FATE's hetero-LR does), not done here. There is no
SecAgg+ (nothing is aggregated) and no differential privacy in this mode: the run config
must say ``secagg = false`` and ``dp = false`` (see :class:`federated.config.RunSettings`).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from typing import cast

import numpy as np
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    ConfigRecordValues,
    Context,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid
from numpy.typing import NDArray

from federated import psi, task
from federated.config import RunSettings
from federated.grid import exchange
from federated.horizontal import refuse, wait_for_nodes
from federated.manifest import ManifestError
from federated.result import ParticipantInfo, RoundMetrics, RunRecorder
from federated.rows import Cohort, RowSourceError, is_test_row, load_cohort

__all__ = [
    "NEWTON_STEPS",
    "BlockState",
    "client_feature_step",
    "client_label_step",
    "client_psi_align",
    "client_psi_exponentiate",
    "client_setup",
    "feature_newton_step",
    "label_newton_steps",
    "run_vertical",
]

#: Newton iterations the label party takes on its block per round (its block is exact).
NEWTON_STEPS = 3
_STATE = "vertical"
_MODEL = "vertical-model"


# -- the arithmetic (no Flower) ----------------------------------------------------------


@dataclass
class BlockState:
    """One party's block: standardised aligned features, split, and its weights."""

    x_train: NDArray[np.float64]
    x_test: NDArray[np.float64]
    weights: NDArray[np.float64]
    y_train: NDArray[np.float64] | None = None
    y_test: NDArray[np.float64] | None = None


def _with_bias(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.hstack([x, np.ones((x.shape[0], 1))])


def label_newton_steps(
    block: BlockState, z_other: NDArray[np.float64], l2: float, steps: int = NEWTON_STEPS
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Newton steps on the label party's weights (last one: the bias); then ``(r, W)``.

    ``z_other`` is the other party's partial logits on the training rows. Returns the
    residuals ``p - y`` and curvature weights ``p(1-p)`` at the new point.
    """
    assert block.y_train is not None
    a = _with_bias(block.x_train)
    n = a.shape[0]
    penalty = np.full(a.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not penalised
    for _ in range(steps):
        p = _sigmoid(a @ block.weights + z_other)
        w = p * (1 - p)
        grad = a.T @ (p - block.y_train) / n + penalty * block.weights
        hess = a.T @ (a * w[:, None]) / n + np.diag(penalty + 1e-9)
        block.weights = block.weights - np.linalg.solve(hess, grad)
    p = _sigmoid(a @ block.weights + z_other)
    return p - block.y_train, p * (1 - p)


def feature_newton_step(
    block: BlockState, residual: NDArray[np.float64], curvature: NDArray[np.float64], l2: float
) -> None:
    """One Newton step on the feature party's weights from the label party's ``(r, W)``."""
    x = block.x_train
    n = x.shape[0]
    grad = x.T @ residual / n + l2 * block.weights
    hess = x.T @ (x * curvature[:, None]) / n + l2 * np.eye(x.shape[1]) + 1e-9 * np.eye(x.shape[1])
    block.weights = block.weights - np.linalg.solve(hess, grad)


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out


def label_scores(block: BlockState, z_other_test: NDArray[np.float64]) -> NDArray[np.float64]:
    """Predicted probabilities on the held-out aligned rows."""
    return _sigmoid(_with_bias(block.x_test) @ block.weights + z_other_test)


# -- the channel between the two parties -----------------------------------------------------


def _channel_key(private: bytes, peer_public: bytes, run_id: int) -> AESGCM:
    secret = X25519PrivateKey.from_private_bytes(private).exchange(
        X25519PublicKey.from_public_bytes(peer_public)
    )
    key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"federated-vertical/1" + run_id.to_bytes(8, "big", signed=False),
    ).derive(secret)
    return AESGCM(key)


def _seal(channel: AESGCM, arrays: list[NDArray[np.float64]], label: str) -> bytes:
    nonce = os.urandom(12)
    body = b"".join(np.ascontiguousarray(a, dtype="<f8").tobytes() for a in arrays)
    return nonce + channel.encrypt(nonce, body, label.encode())


def _open(
    channel: AESGCM, sealed: bytes, label: str, sizes: list[int]
) -> list[NDArray[np.float64]]:
    body = channel.decrypt(sealed[:12], sealed[12:], label.encode())
    flat = np.frombuffer(body, dtype="<f8").astype(np.float64)
    out, start = [], 0
    for size in sizes:
        out.append(flat[start : start + size])
        start += size
    return out


# -- client side ---------------------------------------------------------------------------


def _state(context: Context) -> ConfigRecord:
    if _STATE not in context.state.config_records:
        context.state.config_records[_STATE] = ConfigRecord({})
    return context.state.config_records[_STATE]


def _cohort(context: Context, label_field: str) -> Cohort:
    return load_cohort(context.node_config, label_field, need_blinded_ids=True)


def client_setup(message: Message, context: Context) -> Message:
    """Load the cohort; its counts, first-pass PSI points and a channel public key."""
    run = message.content.config_records["run"]
    try:
        cohort = _cohort(context, str(run["label-field"]))
    except (ManifestError, RowSourceError) as exc:
        return refuse(message, exc)
    key = psi.PsiKey()
    channel = X25519PrivateKey.generate()
    state = _state(context)
    state["psi-key"] = key.to_bytes()
    state["channel-key"] = channel.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    manifest = cohort.manifest
    info = ConfigRecord(
        {
            "party": cohort.party,
            "rows-read": cohort.rows_read,
            "cohort-size": len(cohort.rows),
            "has-label": cohort.rows.y is not None,
            "manifest-sha256": manifest.sha256 if manifest else "",
            "manifest-agreement-id": manifest.agreement_id if manifest else "",
            "features": list(cohort.rows.features),
            "channel-public": channel.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            ),
            "points": key.blind(cohort.blinded_ids),
        }
    )
    return Message(RecordDict({"setup": info}), reply_to=message)


def client_psi_exponentiate(message: Message, context: Context) -> Message:
    """The other party's points raised to this party's scalar, in their order."""
    key = psi.PsiKey.from_bytes(cast(bytes, _state(context)["psi-key"]))
    points = cast(list[bytes], message.content.config_records["psi"]["points"])
    return Message(
        RecordDict({"psi": ConfigRecord({"points": key.raise_points(points)})}), reply_to=message
    )


def _block(context: Context, label_field: str, test_fraction: float) -> BlockState:
    cohort = _cohort(context, label_field)
    positions = np.asarray(cast(list[int], _state(context)["positions"]), dtype=np.intp)
    rows = cohort.rows.take(positions)
    test = np.asarray([is_test_row(cid, test_fraction) for cid in rows.ids], dtype=bool)
    x_train, x_test = rows.x[~test], rows.x[test]
    scaling = task.pooled_standardisation([task.moments(x_train)])
    labelled = rows.y is not None
    width = x_train.shape[1] + (1 if labelled else 0)
    weights = np.zeros(width)
    if _MODEL in context.state.array_records:
        weights = context.state.array_records[_MODEL]["weights"].numpy().astype(np.float64)
    return BlockState(
        x_train=scaling.apply(x_train),
        x_test=scaling.apply(x_test),
        weights=weights,
        y_train=None if rows.y is None else rows.y[~test],
        y_test=None if rows.y is None else rows.y[test],
    )


def client_psi_align(message: Message, context: Context) -> Message:
    """Keep the aligned row positions and the peer's channel key; report the split."""
    config = message.content.config_records["align"]
    state = _state(context)
    state["positions"] = list(cast(list[int], config["positions"]))
    state["peer-public"] = cast(bytes, config["peer-public"])
    block = _block(context, str(config["label-field"]), float(cast(float, config["test-fraction"])))
    reply = ConfigRecord({"train-rows": block.x_train.shape[0], "test-rows": block.x_test.shape[0]})
    return Message(RecordDict({"align": reply}), reply_to=message)


def _save(context: Context, block: BlockState) -> None:
    context.state.array_records[_MODEL] = ArrayRecord({"weights": Array(block.weights)})


def _channel(context: Context) -> AESGCM:
    state = _state(context)
    return _channel_key(
        cast(bytes, state["channel-key"]), cast(bytes, state["peer-public"]), context.run_id
    )


def client_label_step(message: Message, context: Context) -> Message:
    """Evaluate the current model, then (unless told only to evaluate) take Newton steps."""
    config = message.content.config_records["step"]
    block = _block(context, str(config["label-field"]), float(cast(float, config["test-fraction"])))
    n_train, n_test = block.x_train.shape[0], block.x_test.shape[0]
    channel = _channel(context)
    step = int(cast(int, config["round"]))
    if "sealed" in config:
        z_train, z_test = _open(
            channel, cast(bytes, config["sealed"]), f"z/{step}", [n_train, n_test]
        )
    else:
        z_train, z_test = np.zeros(n_train), np.zeros(n_test)
    assert block.y_test is not None
    scores = label_scores(block, z_test)
    clipped = np.clip(scores, 1e-12, 1 - 1e-12)
    metrics: dict[str, int | float | list[int] | list[float]] = {
        "loss": float(
            -np.mean(block.y_test * np.log(clipped) + (1 - block.y_test) * np.log(1 - clipped))
        ),
        "auc": task.auc(block.y_test, scores),
        "accuracy": float(np.mean((scores >= 0.5) == (block.y_test == 1))),
        "examples": float(n_test),
    }
    content = RecordDict({"metrics": MetricRecord(metrics)})
    if not bool(config["evaluate-only"]):
        residual, curvature = label_newton_steps(block, z_train, float(cast(float, config["l2"])))
        _save(context, block)
        content["step"] = ConfigRecord(
            {"sealed": _seal(channel, [residual, curvature], f"rw/{step}")}
        )
    content["block"] = ConfigRecord({"sha256": _block_hash(block.weights)})
    return Message(content, reply_to=message)


def client_feature_step(message: Message, context: Context) -> Message:
    """Take a Newton step from the label party's sealed ``(r, W)``; send new partial logits."""
    config = message.content.config_records["step"]
    block = _block(context, str(config["label-field"]), float(cast(float, config["test-fraction"])))
    n_train = block.x_train.shape[0]
    channel = _channel(context)
    step = int(cast(int, config["round"]))
    residual, curvature = _open(
        channel, cast(bytes, config["sealed"]), f"rw/{step}", [n_train, n_train]
    )
    feature_newton_step(block, residual, curvature, float(cast(float, config["l2"])))
    _save(context, block)
    sealed = _seal(
        channel, [block.x_train @ block.weights, block.x_test @ block.weights], f"z/{step + 1}"
    )
    content = RecordDict(
        {"step": ConfigRecord({"sealed": sealed, "sha256": _block_hash(block.weights)})}
    )
    return Message(content, reply_to=message)


def _block_hash(weights: NDArray[np.float64]) -> str:
    return hashlib.sha256(np.ascontiguousarray(weights, dtype="<f8").tobytes()).hexdigest()


# -- server side ---------------------------------------------------------------------------


def _send(grid: Grid, node: int, kind: str, content: RecordDict, group: str) -> Message:
    message = Message(content, dst_node_id=node, message_type=kind, group_id=group)
    return exchange(grid, [message], f"{kind} ({group})")[0]


def run_vertical(
    grid: Grid, context: Context, settings: RunSettings, recorder: RunRecorder
) -> None:
    """Run PSI, then split learning between the label party and the feature party."""
    recorder.privacy = {
        "secure_aggregation": {"enabled": False, "reason": "split learning aggregates nothing"},
        "differential_privacy": {"enabled": False, "reason": "not provided in vertical mode"},
        "psi": "DH-PSI over X25519 on HMAC-SHA256-blinded ids (semi-honest)",
        "exchange": "partial logits and residuals, AES-GCM end-to-end between the parties",
    }
    nodes = wait_for_nodes(grid, 2, settings.round_timeout)
    if len(nodes) != 2:
        raise RuntimeError(f"vertical mode needs exactly 2 participants, {len(nodes)} connected")
    run = ConfigRecord(
        {"label-field": settings.label_field, "test-fraction": settings.test_fraction}
    )
    setups = exchange(
        grid,
        [
            Message(
                RecordDict({"run": run}),
                dst_node_id=n,
                message_type="query.vertical_setup",
                group_id="setup",
            )
            for n in nodes
        ],
        "setup",
    )
    info = [s.content.config_records["setup"] for s in setups]
    labelled = [bool(i["has-label"]) for i in info]
    if labelled.count(True) != 1:
        raise RuntimeError("vertical mode needs exactly one participant holding the label")
    label_at = labelled.index(True)
    order = [label_at, 1 - label_at]  # label party first
    points = [cast(list[bytes], i["points"]) for i in info]
    raised = exchange(
        grid,
        [
            Message(
                RecordDict({"psi": ConfigRecord({"points": points[1 - k]})}),
                dst_node_id=nodes[k],
                message_type="query.psi_exponentiate",
                group_id="psi",
            )
            for k in range(2)
        ],
        "psi",
    )
    # raised[k] holds the *other* party's points, double-blinded by k.
    double = [
        cast(list[bytes], raised[1 - k].content.config_records["psi"]["points"]) for k in range(2)
    ]
    pos0, pos1 = psi.align(double[0], double[1])
    positions = [pos0, pos1]
    aligns = exchange(
        grid,
        [
            Message(
                RecordDict(
                    {
                        "align": ConfigRecord(
                            {
                                "positions": positions[k],
                                "peer-public": cast(bytes, info[1 - k]["channel-public"]),
                                "label-field": settings.label_field,
                                "test-fraction": settings.test_fraction,
                            }
                        )
                    }
                ),
                dst_node_id=nodes[k],
                message_type="query.psi_align",
                group_id="align",
            )
            for k in range(2)
        ],
        "align",
    )
    splits = [a.content.config_records["align"] for a in aligns]
    recorder.participants = [
        ParticipantInfo(
            node_id=nodes[k],
            party=str(info[k]["party"]),
            rows_read=int(cast(int, info[k]["rows-read"])),
            cohort_size=int(cast(int, info[k]["cohort-size"])),
            train_rows=int(cast(int, splits[k]["train-rows"])),
            test_rows=int(cast(int, splits[k]["test-rows"])),
            manifest_sha256=str(info[k]["manifest-sha256"]) or None,
            manifest_agreement_id=str(info[k]["manifest-agreement-id"]) or None,
            features=[str(f) for f in cast(list[str], info[k]["features"])],
        )
        for k in order
    ]
    recorder.vertical = {
        "intersection_size": len(pos0),
        "label_party": str(info[label_at]["party"]),
        "feature_party": str(info[1 - label_at]["party"]),
    }
    label_node, feature_node = nodes[label_at], nodes[1 - label_at]
    base: dict[str, ConfigRecordValues] = {
        "label-field": settings.label_field,
        "test-fraction": settings.test_fraction,
        "l2": settings.l2,
    }
    sealed_z: bytes | None = None
    started = time.monotonic()
    hashes_: dict[str, str] = {}
    for step in range(1, settings.rounds + 2):
        final = step == settings.rounds + 1
        config = ConfigRecord({**base, "round": step, "evaluate-only": final})
        if sealed_z is not None:
            config["sealed"] = sealed_z
        reply = _send(grid, label_node, "train.label_step", RecordDict({"step": config}), str(step))
        metrics = reply.content.metric_records["metrics"]
        hashes_["label"] = str(reply.content.config_records["block"]["sha256"])
        if step > 1:
            now = time.monotonic()
            recorder.add_round(
                RoundMetrics(
                    round=step - 1,
                    loss=float(cast(float, metrics["loss"])),
                    auc=float(cast(float, metrics["auc"])),
                    accuracy=float(cast(float, metrics["accuracy"])),
                    examples=int(cast(float, metrics["examples"])),
                    seconds=now - started,
                )
            )
            started = now
        if final:
            break
        sealed_rw = cast(bytes, reply.content.config_records["step"]["sealed"])
        feature_config = ConfigRecord({**base, "round": step, "sealed": sealed_rw})
        feature_reply = _send(
            grid,
            feature_node,
            "train.feature_step",
            RecordDict({"step": feature_config}),
            str(step),
        )
        sealed_z = cast(bytes, feature_reply.content.config_records["step"]["sealed"])
        hashes_["feature"] = str(feature_reply.content.config_records["step"]["sha256"])
    last = recorder.rounds[-1]
    recorder.final = {
        "loss": last.loss,
        "auc": last.auc,
        "accuracy": last.accuracy,
        "examples": last.examples,
    }
    blocks = [
        {
            "party": recorder.vertical["label_party"],
            "sha256": hashes_["label"],
            "holds": "weights and bias",
        },
        {
            "party": recorder.vertical["feature_party"],
            "sha256": hashes_["feature"],
            "holds": "weights",
        },
    ]
    recorder.model = {
        "kind": "split-logistic-regression",
        "features": {p.party: p.features for p in recorder.participants},
        "blocks": blocks,
        "sha256": hashlib.sha256("".join(b["sha256"] for b in blocks).encode()).hexdigest(),
        "serialisation": "per block: SHA-256 of the little-endian float64 weights; model: "
        "SHA-256 of the label block's hex then the feature block's",
        "parameters": None,
    }
