"""``python -m federated.loopback_node ARGS``: flower-supernode that polls every 0.1 s.

Flower 1.42's SuperNode sleeps 3 s after each poll of its SuperLink that brings no
message, which adds 1.5 s on average to every round trip — and a horizontal round with
SecAgg+ is five of them. For the loopback federation (:mod:`federated.loopback`), this
runs the stock SuperNode with that idle sleep capped at 0.1 s; nothing else changes.
Real deployments run ``flower-supernode`` itself.
"""

from __future__ import annotations

import time
from typing import Any

import flwr.supernode.start_client_internal as _internal

_real_sleep = time.sleep


class _FastIdleTime:
    """The ``time`` module as the SuperNode loop sees it, with shorter sleeps."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        _real_sleep(min(seconds, 0.1))


def main() -> None:
    """Run the SuperNode CLI with the faster idle poll."""
    if not hasattr(_internal, "time"):
        raise RuntimeError("flwr's SuperNode loop changed: run flower-supernode instead")
    _internal.time = _FastIdleTime()  # type: ignore[assignment]
    from flwr.supernode.cli.flower_supernode import flower_supernode

    flower_supernode()


if __name__ == "__main__":
    main()
