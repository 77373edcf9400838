"""The ClientApp each participant's SuperNode runs: one handler per message kind.

Thin wiring; the work is in :mod:`federated.horizontal` and :mod:`federated.vertical`.
Rows come from the SuperNode's node config (:mod:`federated.rows`).
"""

from __future__ import annotations

from flwr.app import Context, Message
from flwr.clientapp import ClientApp

from federated import horizontal, vertical

__all__ = ["app"]

app = ClientApp()


@app.query()
def cohort(message: Message, context: Context) -> Message:
    """Horizontal: the participant's cohort counts and standardisation moments."""
    return horizontal.client_cohort(message, context)


@app.train()
def train(message: Message, context: Context) -> Message:
    """Horizontal: one round of local training (SecAgg+ and clipping when asked)."""
    return horizontal.client_train(message, context)


@app.evaluate()
def evaluate(message: Message, context: Context) -> Message:
    """Horizontal: pooled-evaluation aggregates on the held-out rows."""
    return horizontal.client_evaluate(message, context)


@app.query("vertical_setup")
def vertical_setup(message: Message, context: Context) -> Message:
    """Vertical: cohort counts, first-pass PSI points, channel key."""
    return vertical.client_setup(message, context)


@app.query("psi_exponentiate")
def psi_exponentiate(message: Message, context: Context) -> Message:
    """Vertical: raise the other party's PSI points."""
    return vertical.client_psi_exponentiate(message, context)


@app.query("psi_align")
def psi_align(message: Message, context: Context) -> Message:
    """Vertical: keep the aligned rows."""
    return vertical.client_psi_align(message, context)


@app.train("label_step")
def label_step(message: Message, context: Context) -> Message:
    """Vertical, label party: evaluate, then Newton steps on its block."""
    return vertical.client_label_step(message, context)


@app.train("feature_step")
def feature_step(message: Message, context: Context) -> Message:
    """Vertical, feature party: a Newton step on its block."""
    return vertical.client_feature_step(message, context)
