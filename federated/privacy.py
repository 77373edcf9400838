"""Privacy on the client side of a round, and the accounting of what it guarantees.

Horizontal runs use Flower's own pieces (its legacy workflow API, the only one with
SecAgg+ in Flower 1.42):

* **SecAgg+** — ``SecAggPlusWorkflow`` at the server, ``secaggplus_mod`` here: the server
  learns only the sum of the participants' (quantised, masked) parameters.
* **Central DP with client-side fixed clipping** — the server's
  ``DifferentialPrivacyClientSideFixedClipping`` sends a clipping norm C; here
  ``fixedclipping_mod`` clips each participant's update to norm C *before* it is masked;
  the server adds Gaussian noise of standard deviation z·C/n to the unweighted mean of the
  n updates (z: the noise multiplier).

:func:`client_privacy` applies whichever of the two the server asked for in a message, so
one ClientApp serves every combination the run config allows.

:func:`gaussian_epsilon` turns (z, rounds, δ) into ε: participant-level DP (one
participant's whole contribution — so, a fortiori, any one customer's row — added or
removed), every participant in every round (no subsampling), Rényi-DP composition of the
Gaussian mechanism and the conversion of Balle et al. (2020).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from flwr.app import Context, Message

__all__ = ["client_privacy", "gaussian_epsilon"]

Handler = Callable[[Message, Context], Message]
#: The config record the SecAgg+ workflow puts in each of its messages.
SECAGG_RECORD = "secaggplus_configs"
#: The fit-config key DifferentialPrivacyClientSideFixedClipping sends.
CLIPPING_NORM_KEY = "clipping_norm"


def client_privacy(message: Message, context: Context, train: Handler) -> Message:
    """Run ``train`` inside clipping and SecAgg+ when the message asks for them."""
    from flwr.client.mod import fixedclipping_mod, secaggplus_mod

    def clipped(msg: Message, ctx: Context) -> Message:
        config = msg.content.config_records.get("fitins.config")
        if config is not None and CLIPPING_NORM_KEY in config:
            return fixedclipping_mod(msg, ctx, train)
        return train(msg, ctx)

    if SECAGG_RECORD in message.content.config_records:
        return secaggplus_mod(message, context, clipped)
    return clipped(message, context)


def gaussian_epsilon(noise_multiplier: float, rounds: int, delta: float) -> float:
    """ε of ``rounds`` Gaussian mechanisms of multiplier z at ``delta`` (RDP accounting)."""
    if noise_multiplier <= 0:
        return math.inf
    best = math.inf
    for tenth in range(11, 2560):
        alpha = tenth / 10
        rdp = rounds * alpha / (2 * noise_multiplier**2)
        eps = (
            rdp + math.log((alpha - 1) / alpha) - (math.log(delta) + math.log(alpha)) / (alpha - 1)
        )
        best = min(best, eps)
    return max(best, 0.0)
