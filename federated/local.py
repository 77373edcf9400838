"""The same ServerApp and ClientApp code, in one process: for tests and accuracy benches.

:class:`InProcessGrid` is a Flower ``Grid`` that hands each message straight to the
ClientApp of its destination node, with a ``Context`` per node that lives for the run
(as a SuperNode keeps it). :func:`run_in_process` runs the ServerApp's ``main`` over it —
the horizontal workflow with Flower's SecAgg+ and DP pieces, or the vertical PSI and split
learning — without SuperLink, SuperNodes or subprocesses. Message contents cross no wire
here; everything else (handlers, mods, aggregation, masking, noise) is what a deployment
runs. The Deployment Engine itself is exercised by :mod:`federated.loopback`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.serde import recorddict_from_proto, recorddict_to_proto
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from federated import client_app, server_app
from federated.config import DEFAULTS
from federated.result import read_result

__all__ = ["InProcessGrid", "run_in_process"]

#: The error code of an exception raised inside a ClientApp (as Flower reports it).
CLIENT_EXCEPTION = 2


def _copy(message: Message) -> Message:
    """A copy of ``message`` whose content shares no record with it (errors are kept)."""
    if not message.has_content():
        return message
    copied = object.__new__(Message)
    copied.__dict__.update(
        {
            "_metadata": message.metadata,
            "_content": recorddict_from_proto(recorddict_to_proto(message.content)),
            "_error": None,
        }
    )
    return copied


class InProcessGrid(Grid):
    """A Grid whose nodes are ClientApps called in this process."""

    def __init__(self, apps: Mapping[int, tuple[ClientApp, Context]], run_id: int = 1) -> None:
        self._apps = dict(apps)
        self._run = Run.create_empty(run_id)
        self._replies: dict[str, Message] = {}

    def set_run(self, run: Run) -> None:
        """Replace the run."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run."""
        return self._run

    def create_message(  # noqa: D102 - as Grid
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(
            content, dst_node_id=dst_node_id, message_type=message_type, group_id=group_id, ttl=ttl
        )

    def get_node_ids(self) -> Iterable[int]:
        """The nodes."""
        return list(self._apps)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message; keep its reply for :meth:`pull_messages`."""
        ids = []
        for message in messages:
            message.metadata.__dict__["_run_id"] = self._run.run_id
            message.metadata.__dict__["_message_id"] = message.object_id
            app, context = self._apps[message.metadata.dst_node_id]
            delivered = _copy(message)  # as if sent over the wire: handlers may mutate it
            try:
                reply = _copy(app(delivered, context))
            except Exception as exc:  # reported to the server as an error reply, like Flower
                reply = Message(
                    Error(code=CLIENT_EXCEPTION, reason=f"{type(exc).__name__}: {exc}"),
                    reply_to=delivered,
                )
            self._replies[message.metadata.message_id] = reply
            ids.append(message.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The replies to ``message_ids`` (each once)."""
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Deliver and return every reply."""
        return self.pull_messages(self.push_messages(messages))


def run_in_process(
    node_configs: Sequence[Mapping[str, Any]], run_config: Mapping[str, Any]
) -> dict[str, Any]:
    """Run the ServerApp's main over in-process ClientApps; the result document.

    ``run_config`` needs a ``result-path``; the rest defaults as in the app's pyproject.
    Raises what the ServerApp raises (after the failed result is written).
    """
    config = {**DEFAULTS, **dict(run_config)}
    apps = {
        1000 + i: (client_app.app, Context(7, 1000 + i, dict(node), RecordDict(), config))
        for i, node in enumerate(node_configs)
    }
    grid = InProcessGrid(apps, run_id=7)
    # Messages take their run and sender from the process's task identity, as in a ServerApp.
    saved = (TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id)
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = 7, 0, 1
    try:
        server_app.main(grid, Context(7, 0, {}, RecordDict(), config))
    finally:
        TaskIdentity._run_id, TaskIdentity._node_id, TaskIdentity._task_id = saved
    return read_result(Path(str(config["result-path"])))
