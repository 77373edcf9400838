"""Horizontal federated training: same features, different customers, FedAvg.

A run, from the ServerApp (:func:`run_horizontal`):

1. **cohort** (``query``): each participant loads its consent-gated rows
   (:func:`federated.rows.load_cohort`), splits off its held-out rows by customer-id hash,
   and reports counts, its manifest's hash, its feature names, and the row count, sums and
   sums of squares of its training rows (for a shared standardisation — aggregates only).
2. **rounds** (Flower's ``DefaultWorkflow``): FedAvg over every participant, each
   training ``local-epochs`` of mini-batch gradient descent from the global model; the
   fit step runs through ``SecAggPlusWorkflow`` when ``secagg`` is on, and the strategy is
   wrapped in ``DifferentialPrivacyClientSideFixedClipping`` when ``dp`` is on
   (:mod:`federated.privacy`). Participants report a weight of 1, so the mean is
   unweighted, which the DP noise calibration (z·C/n) assumes.
3. **evaluate** (``evaluate``) after every round: each participant scores its held-out rows
   and returns the loss sum, the correct count and score histograms; the server pools them
   into one loss, accuracy and AUC (:func:`federated.task.auc_from_histograms`).

The client side is :func:`client_cohort`, :func:`client_train` and :func:`client_evaluate`.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Context,
    Error,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid
from numpy.typing import NDArray

from federated import task
from federated.config import RunSettings
from federated.grid import exchange
from federated.manifest import ManifestError
from federated.privacy import client_privacy, gaussian_epsilon
from federated.result import ParticipantInfo, RoundMetrics, RunRecorder
from federated.rows import Cohort, Rows, RowSourceError, is_test_row, load_cohort

__all__ = [
    "REFUSED",
    "client_cohort",
    "client_evaluate",
    "client_train",
    "run_horizontal",
    "split",
    "wait_for_nodes",
]

#: The error code of a participant that refuses (bad manifest, unreadable rows).
REFUSED = 4001


# -- shared -------------------------------------------------------------------------------


def split(rows: Rows, test_fraction: float) -> tuple[Rows, Rows]:
    """Training and held-out rows, by customer-id hash (:func:`is_test_row`)."""
    test = np.asarray([is_test_row(cid, test_fraction) for cid in rows.ids], dtype=bool)
    return rows.take(np.flatnonzero(~test)), rows.take(np.flatnonzero(test))


def _pack(values: NDArray[np.float64]) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def _unpack(raw: object) -> NDArray[np.float64]:
    return np.frombuffer(cast(bytes, raw), dtype="<f8").astype(np.float64)


def refuse(message: Message, exc: Exception) -> Message:
    """An error reply naming why this participant will not take part."""
    return Message(Error(code=REFUSED, reason=f"{type(exc).__name__}: {exc}"), reply_to=message)


# -- client side ---------------------------------------------------------------------------


def _labelled_cohort(node_config: Mapping[str, Any], label_field: str) -> Cohort:
    cohort = load_cohort(node_config, label_field)
    if cohort.rows.y is None:
        raise RowSourceError(f"rows have no {label_field} label (horizontal mode needs it)")
    return cohort


def client_cohort(message: Message, context: Context) -> Message:
    """Load the cohort; report its counts, manifest hash, features and training moments."""
    run = message.content.config_records["run"]
    try:
        cohort = _labelled_cohort(context.node_config, str(run["label-field"]))
    except (ManifestError, RowSourceError) as exc:
        return refuse(message, exc)
    train_rows, test_rows = split(cohort.rows, float(cast(float, run["test-fraction"])))
    count, sums, squares = task.moments(train_rows.x)
    manifest = cohort.manifest
    info = ConfigRecord(
        {
            "party": cohort.party,
            "rows-read": cohort.rows_read,
            "cohort-size": len(cohort.rows),
            "train-rows": len(train_rows),
            "test-rows": len(test_rows),
            "manifest-sha256": manifest.sha256 if manifest else "",
            "manifest-agreement-id": manifest.agreement_id if manifest else "",
            "features": list(cohort.rows.features),
        }
    )
    moments = ArrayRecord({"sums": Array(sums), "squares": Array(squares)})
    info["count"] = count
    return Message(RecordDict({"cohort": info, "moments": moments}), reply_to=message)


def _standardised_rows(
    context: Context, config: Mapping[str, Any], test: bool
) -> tuple[Rows, NDArray[np.float64], NDArray[np.float64]]:
    cohort = _labelled_cohort(context.node_config, str(config["label-field"]))
    train_rows, test_rows = split(cohort.rows, float(config["test-fraction"]))
    rows = test_rows if test else train_rows
    scaling = task.Standardisation(_unpack(config["std-mean"]), _unpack(config["std-scale"]))
    assert rows.y is not None
    return rows, scaling.apply(rows.x), rows.y


def _fit(message: Message, context: Context) -> Message:
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.compat.common import recorddict_compat as compat

    fitins = compat.recorddict_to_fitins(message.content, keep_input=True)
    config = dict(fitins.config)
    params = parameters_to_ndarrays(fitins.parameters)
    rows, x, y = _standardised_rows(context, config, test=False)
    seed = [int(config["seed"]), int(config["round"]), zlib.crc32(rows.ids[0].encode())]
    trained = task.train(
        params,
        x,
        y,
        task.TrainConfig(
            epochs=int(config["local-epochs"]),
            batch_size=int(config["batch-size"]),
            learning_rate=float(config["learning-rate"]),
            l2=float(config["l2"]),
        ),
        np.random.default_rng(seed),
    )
    fitres = FitRes(
        status=Status(code=Code.OK, message="ok"),
        parameters=ndarrays_to_parameters(trained),
        num_examples=1,  # an unweighted mean: what the DP noise (z·C/n) is calibrated for
        metrics={"train-loss": task.log_loss(trained, x, y), "train-rows": len(rows)},
    )
    return Message(compat.fitres_to_recorddict(fitres, keep_input=True), reply_to=message)


def client_train(message: Message, context: Context) -> Message:
    """One round of local training, inside clipping and SecAgg+ when the server asks."""
    try:
        return client_privacy(message, context, _fit)
    except (ManifestError, RowSourceError) as exc:
        return refuse(message, exc)


def client_evaluate(message: Message, context: Context) -> Message:
    """Score the held-out rows; aggregates only (loss sum, correct count, histograms)."""
    config = message.content.config_records["config"]
    params = task.from_array_record(message.content.array_records["model"])
    try:
        _, x, y = _standardised_rows(context, config, test=True)
    except (ManifestError, RowSourceError) as exc:
        return refuse(message, exc)
    p = task.predict_proba(params, x)
    pos, neg = task.score_histograms(y, p)
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    metrics = MetricRecord(
        {
            "examples": int(y.size),
            "loss-sum": float(-np.sum(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))),
            "correct": int(np.sum((p >= 0.5) == (y == 1))),
            "pos-hist": pos,
            "neg-hist": neg,
        }
    )
    return Message(RecordDict({"eval": metrics}), reply_to=message)


# -- server side ---------------------------------------------------------------------------


def wait_for_nodes(grid: Grid, count: int, timeout: float) -> list[int]:
    """The connected node ids once at least ``count`` are there (sorted); raises on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= count:
            return nodes
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(nodes)} of {count} participants connected")
        time.sleep(0.2)


@dataclass(frozen=True)
class _Cohorts:
    participants: list[ParticipantInfo]
    scaling: task.Standardisation
    features: tuple[str, ...]


def _cohort_round(grid: Grid, nodes: list[int], settings: RunSettings) -> _Cohorts:
    run = ConfigRecord(
        {"label-field": settings.label_field, "test-fraction": settings.test_fraction}
    )
    messages = [
        Message(RecordDict({"run": run}), dst_node_id=node, message_type="query", group_id="cohort")
        for node in nodes
    ]
    replies = exchange(grid, messages, "cohort")
    participants: list[ParticipantInfo] = []
    parts = []
    for node, reply in zip(nodes, replies, strict=True):
        info = reply.content.config_records["cohort"]
        moments = reply.content.array_records["moments"]
        participants.append(
            ParticipantInfo(
                node_id=node,
                party=str(info["party"]),
                rows_read=int(cast(int, info["rows-read"])),
                cohort_size=int(cast(int, info["cohort-size"])),
                train_rows=int(cast(int, info["train-rows"])),
                test_rows=int(cast(int, info["test-rows"])),
                manifest_sha256=str(info["manifest-sha256"]) or None,
                manifest_agreement_id=str(info["manifest-agreement-id"]) or None,
                features=[str(f) for f in cast(list[str], info["features"])],
            )
        )
        parts.append(
            (
                int(cast(int, info["count"])),
                moments["sums"].numpy().astype(np.float64),
                moments["squares"].numpy().astype(np.float64),
            )
        )
    features = {tuple(p.features) for p in participants}
    if len(features) != 1:
        raise RuntimeError("participants hold different features; horizontal mode needs the same")
    if any(p.train_rows == 0 or p.test_rows == 0 for p in participants):
        raise RuntimeError("a participant has no training or no held-out rows in its cohort")
    return _Cohorts(participants, task.pooled_standardisation(parts), next(iter(features)))


def _privacy(settings: RunSettings, n: int) -> dict[str, Any]:
    return {
        "secure_aggregation": {
            "enabled": settings.secagg,
            "protocol": "SecAgg+ (Flower SecAggPlusWorkflow / secaggplus_mod)",
            "num_shares": n,
            "reconstruction_threshold": n,
            "clipping_range": 8.0,
            "quantization_range": 2**22,
            "modulus_range": 2**32,
        },
        "differential_privacy": {
            "enabled": settings.dp,
            "mechanism": "Gaussian, central, client-side fixed clipping of updates",
            "unit": "participant (so, a fortiori, one customer's row)",
            "noise_multiplier": settings.noise_multiplier if settings.dp else None,
            "clipping_norm": settings.clipping_norm if settings.dp else None,
            "noise_std": settings.noise_multiplier * settings.clipping_norm / n
            if settings.dp
            else None,
            "rounds": settings.rounds,
            "delta": settings.delta if settings.dp else None,
            "epsilon": gaussian_epsilon(settings.noise_multiplier, settings.rounds, settings.delta)
            if settings.dp
            else None,
            "accounting": "Renyi DP of the Gaussian mechanism, every participant every round",
        },
    }


def _params_of(record: ArrayRecord) -> task.Params:
    from flwr.common import parameters_to_ndarrays
    from flwr.compat.common import recorddict_compat as compat

    arrays = parameters_to_ndarrays(compat.arrayrecord_to_parameters(record, keep_input=True))
    return [np.asarray(a, dtype=np.float64) for a in arrays]


def _evaluate(
    grid: Grid, nodes: list[int], params: task.Params, config: ConfigRecord, group: str
) -> dict[str, float]:
    messages = [
        Message(
            RecordDict({"model": task.to_array_record(params), "config": config}),
            dst_node_id=node,
            message_type="evaluate",
            group_id=group,
        )
        for node in nodes
    ]
    replies = exchange(grid, messages, f"evaluate round {group}")
    examples = loss = correct = 0.0
    pos = np.zeros(task.AUC_BINS)
    neg = np.zeros(task.AUC_BINS)
    for reply in replies:
        m = reply.content.metric_records["eval"]
        examples += float(cast(int, m["examples"]))
        loss += float(cast(float, m["loss-sum"]))
        correct += float(cast(int, m["correct"]))
        pos += np.asarray(m["pos-hist"], dtype=np.float64)
        neg += np.asarray(m["neg-hist"], dtype=np.float64)
    return {
        "loss": loss / examples,
        "auc": task.auc_from_histograms(pos.tolist(), neg.tolist()),
        "accuracy": correct / examples,
        "examples": examples,
    }


def run_horizontal(
    grid: Grid, context: Context, settings: RunSettings, recorder: RunRecorder
) -> None:
    """Run the whole horizontal federation; facts go to ``recorder``."""
    from flwr.common import ndarrays_to_parameters
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.strategy import DifferentialPrivacyClientSideFixedClipping, FedAvg, Strategy
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
    from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD

    nodes = wait_for_nodes(grid, settings.min_nodes, settings.round_timeout)
    cohorts = _cohort_round(grid, nodes, settings)
    recorder.participants = cohorts.participants
    recorder.privacy = _privacy(settings, len(nodes))
    scaling = {
        "std-mean": _pack(cohorts.scaling.mean),
        "std-scale": _pack(cohorts.scaling.std),
        "label-field": settings.label_field,
        "test-fraction": settings.test_fraction,
    }

    def fit_config(server_round: int) -> dict[str, Any]:
        return {
            **scaling,
            "round": server_round,
            "seed": settings.seed,
            "local-epochs": settings.local_epochs,
            "batch-size": settings.batch_size,
            "learning-rate": settings.learning_rate,
            "l2": settings.l2,
        }

    aggregated: list[int] = []

    def fit_metrics(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        aggregated.append(len(results))  # called once per round whose updates were aggregated
        return {}

    strategy: Strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=len(nodes),
        min_evaluate_clients=0,
        min_available_clients=len(nodes),
        initial_parameters=ndarrays_to_parameters(task.init_params(len(cohorts.features))),
        on_fit_config_fn=fit_config,
        fit_metrics_aggregation_fn=fit_metrics,
        accept_failures=False,
    )
    if settings.dp:
        strategy = DifferentialPrivacyClientSideFixedClipping(
            strategy,
            noise_multiplier=settings.noise_multiplier,
            clipping_norm=settings.clipping_norm,
            num_sampled_clients=len(nodes),
        )
    eval_config = ConfigRecord(cast(dict[str, Any], scaling))
    last = [time.monotonic()]

    def evaluate_round(grid: Grid, legacy: Context) -> None:
        current = int(cast(int, legacy.state.config_records[MAIN_CONFIGS_RECORD]["current_round"]))
        if len(aggregated) != current or aggregated[-1] != len(nodes):
            raise RuntimeError(f"round {current}: the participants' updates were not aggregated")
        params = _params_of(legacy.state.array_records[MAIN_PARAMS_RECORD])
        metrics = _evaluate(grid, nodes, params, eval_config, str(current))
        now = time.monotonic()
        recorder.add_round(
            RoundMetrics(
                round=current,
                loss=metrics["loss"],
                auc=metrics["auc"],
                accuracy=metrics["accuracy"],
                examples=int(metrics["examples"]),
                seconds=now - last[0],
            )
        )
        last[0] = now

    legacy = LegacyContext(
        context, config=ServerConfig(num_rounds=settings.rounds), strategy=strategy
    )
    fit_workflow = (
        SecAggPlusWorkflow(
            num_shares=1.0, reconstruction_threshold=1.0, timeout=settings.round_timeout
        )
        if settings.secagg
        else None
    )
    DefaultWorkflow(fit_workflow=fit_workflow, evaluate_workflow=evaluate_round)(grid, legacy)
    if len(recorder.rounds) != settings.rounds:
        raise RuntimeError(f"only {len(recorder.rounds)} of {settings.rounds} rounds completed")
    params = _params_of(legacy.state.array_records[MAIN_PARAMS_RECORD])
    last_round = recorder.rounds[-1]
    recorder.final = {
        "loss": last_round.loss,
        "auc": last_round.auc,
        "accuracy": last_round.accuracy,
        "examples": last_round.examples,
    }
    recorder.model = model_document(params, cohorts.features, cohorts.scaling)


def model_document(
    params: task.Params, features: tuple[str, ...], scaling: task.Standardisation
) -> dict[str, Any]:
    """The model as the result records it (its hash covers the parameters)."""
    return {
        "kind": "logistic-regression",
        "features": list(features),
        "standardisation": {"mean": scaling.mean.tolist(), "std": scaling.std.tolist()},
        "parameters": {"weights": params[0].tolist(), "bias": float(params[1][0])},
        "sha256": task.model_sha256(params),
        "serialisation": "federated.task.serialise_params (logreg/1, little-endian float64)",
    }
