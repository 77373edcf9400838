"""Start local processes and make sure every one of them, and their children, stops.

Flower's SuperLink and SuperNodes start more processes of their own (a SuperExec each,
which starts a ServerApp or a ClientApp per task), some in sessions of their own, so a
process group is not enough. :class:`Supervisor`:

* starts each command in its own session, with ``PR_SET_PDEATHSIG`` so that it gets
  SIGTERM if the supervising process dies without cleaning up (even by SIGKILL);
* when stopping, collects every descendant from ``/proc`` first (the detached ones too),
  sends SIGTERM to each group and each process, waits, then SIGKILLs what is left;
* stops on ``with``-exit, on SIGINT/SIGTERM (through :func:`handle_signals`) and at
  interpreter exit (``atexit``).

Linux only (``/proc``, ``prctl``), like the loopback demo it serves.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import IO

__all__ = ["Interrupted", "Supervisor", "alive", "descendants", "handle_signals"]

_PR_SET_PDEATHSIG = 1


class Interrupted(Exception):
    """SIGINT or SIGTERM arrived while :func:`handle_signals` was in force."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _stat(pid: int) -> tuple[int, str, int] | None:
    """``(ppid, state, start time)`` of a process from /proc, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = raw[raw.rfind(")") + 2 :].split()
    return int(rest[1]), rest[0], int(rest[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> start time (from /proc)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        info = _stat(int(entry))
        if info is None or info[1] == "Z":
            continue
        children.setdefault(info[0], []).append(int(entry))
        starts[int(entry)] = info[2]
    found: dict[int, int] = {}
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found[child] = starts[child]
                stack.append(child)
    return found


def alive(processes: Mapping[int, int]) -> list[int]:
    """The pids of ``processes`` (pid -> start time) that still run (zombies are not)."""
    out = []
    for pid, start in processes.items():
        info = _stat(pid)
        if info is not None and info[1] != "Z" and info[2] == start:
            out.append(pid)
    return out


class Supervisor:
    """Starts commands; :meth:`stop` ends them and all they started."""

    def __init__(self, log_dir: Path, grace: float = 8.0) -> None:
        self.log_dir = log_dir
        self.grace = grace
        self.children: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._stopped = False
        log_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.stop)

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str]
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own session, output to ``<log_dir>/<name>.log``."""
        log = (self.log_dir / f"{name}.log").open("wb")
        self._logs.append(log)
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.children.append(process)
        return process

    def tree(self) -> dict[int, int]:
        """Every live process started through this supervisor, and their descendants."""
        found: dict[int, int] = {}
        for child in self.children:
            info = _stat(child.pid)
            if child.poll() is None and info is not None:
                found[child.pid] = info[2]
            found.update(descendants(child.pid))
        return found

    def stop(self) -> None:
        """SIGTERM every process of the tree, wait up to ``grace`` s, SIGKILL the rest."""
        if self._stopped:
            return
        self._stopped = True
        tree = self.tree()
        for child in reversed(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace
        while alive(tree) and time.monotonic() < deadline:
            for child in self.children:
                child.poll()
            time.sleep(0.1)
        for pid in alive(tree):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for child in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)
        for log in self._logs:
            log.close()
        atexit.unregister(self.stop)

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` (so ``finally`` blocks run)."""

    def interrupt(signum: int, _frame: FrameType | None) -> None:
        raise Interrupted(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
