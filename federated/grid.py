"""A Grid that polls for replies often, and never waits for ever.

Flower 1.42's Grid sleeps 3 s between pulls while it waits for replies, and waits without
limit unless told otherwise. A run here is a few dozen short round trips (SecAgg+ alone is
four per round), so :class:`PollingGrid` wraps the run's Grid: it pulls every
``interval`` seconds and gives every exchange a default ``timeout``. Everything else goes
to the wrapped Grid.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flwr.app import Message, RecordDict
from flwr.serverapp import Grid
from flwr.supercore.run import Run

__all__ = ["PollingGrid", "exchange"]


class PollingGrid(Grid):
    """Delegates to ``grid``; :meth:`send_and_receive` polls every ``interval`` seconds."""

    def __init__(self, grid: Grid, *, interval: float = 0.1, timeout: float = 300.0) -> None:
        self._grid = grid
        self.interval = interval
        self.timeout = timeout

    def set_run(self, run: Run) -> None:
        """Set the run on the wrapped Grid."""
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        """The wrapped Grid's run."""
        return self._grid.run

    def create_message(  # noqa: D102 - as the wrapped Grid
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        """The connected nodes."""
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Push through the wrapped Grid."""
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Pull through the wrapped Grid."""
        return self._grid.pull_messages(message_ids)

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        """Push, then pull every ``interval`` s until all replied or ``timeout`` passed."""
        limit = self.timeout if timeout is None else timeout
        pending = set(self._grid.push_messages(messages))
        deadline = time.monotonic() + limit
        replies: list[Message] = []
        while pending and time.monotonic() < deadline:
            got = list(self._grid.pull_messages(pending))
            replies.extend(got)
            pending.difference_update(m.metadata.reply_to_message_id for m in got)
            if pending:
                time.sleep(self.interval)
        return replies


def exchange(grid: Grid, messages: list[Message], what: str) -> list[Message]:
    """Send ``messages``; their replies, in the order sent. Raises on a missing or error reply.

    The error names the participant's own reason (a refused manifest, unreadable rows).
    """
    sent = {m.metadata.dst_node_id: i for i, m in enumerate(messages)}
    replies = list(grid.send_and_receive(messages))
    by_node = {m.metadata.src_node_id: m for m in replies}
    ordered: list[Message] = []
    for node_id in sent:
        reply = by_node.get(node_id)
        if reply is None:
            raise RuntimeError(f"{what}: node {node_id} did not reply in time")
        if reply.has_error():
            raise RuntimeError(f"{what}: node {node_id} failed: {reply.error.reason}")
        ordered.append(reply)
    return ordered
