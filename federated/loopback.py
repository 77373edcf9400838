"""A whole Flower Deployment Engine federation on 127.0.0.1, for demos, tests and benches.

:class:`LoopbackFederation` starts a SuperLink (``flower-superlink --insecure``, runtime
dependency installation off) and one SuperNode per participant, each with its own node
config, on free loopback ports; writes a Flower configuration (``$FLWR_HOME/config.toml``)
naming that SuperLink; submits the app with ``flwr run federated/app loopback`` and a run
config file; follows the ServerApp's progress file; and stops every process it started
(:class:`federated.processes.Supervisor`).

Insecure (no TLS) and unauthenticated: for loopback only. docs/federated.md has the
certificate and SuperNode-key steps for anything else.

SuperNodes run through :mod:`federated.loopback_node` unless ``fast_poll=False``: the
stock SuperNode, polling its SuperLink every 0.1 s instead of every 3 s when idle.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federated.processes import Supervisor
from federated.result import RESULT_FORMAT, progress_path

__all__ = ["APP_DIR", "FederationError", "LoopbackFederation", "Participant", "free_port"]

#: The Flower app folder ``flwr run`` bundles.
APP_DIR = Path(__file__).resolve().parent / "app"
CONNECTION = "loopback"


class FederationError(RuntimeError):
    """The federation did not start, or the run failed or timed out."""


@dataclass(frozen=True)
class Participant:
    """A SuperNode to start: its party name and node config (strings)."""

    party: str
    node_config: Mapping[str, str]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process_ok: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process_ok():
            raise FederationError(f"the process meant to listen on port {port} exited")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise FederationError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f} s")


def toml_value(value: object) -> str:
    """A TOML literal for a flat config value (bool, int, float or string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: same quoting and escapes
    raise TypeError(f"no TOML literal for {type(value).__name__}")


def toml_table(values: Mapping[str, object]) -> str:
    """``key = value`` lines (keys are bare kebab-case words here)."""
    return "".join(f"{key} = {toml_value(value)}\n" for key, value in values.items())


def _node_config(values: Mapping[str, str]) -> str:
    return " ".join(f"{key}={json.dumps(value)}" for key, value in values.items())


class LoopbackFederation:
    """SuperLink + SuperNodes on loopback; :meth:`run` one app run; :meth:`stop` all."""

    def __init__(self, workdir: Path, participants: list[Participant], *, fast_poll: bool = True):
        self.workdir = workdir
        self.participants = participants
        self.fast_poll = fast_poll
        self.home = workdir / "flwr-home"
        self.supervisor = Supervisor(workdir / "logs")
        self.port = 0
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "FLWR_HOME": str(self.home),
            "FLWR_TELEMETRY_ENABLED": "0",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_SUPEREXEC_TASK_POLL_INTERVAL": "0.05",
            "PYTHONUNBUFFERED": "1",
        }

    def _bin(self, name: str) -> str:
        return str(Path(sys.executable).parent / name)

    def start(self, timeout: float = 60.0) -> None:
        """Start the SuperLink, wait for its port, start the SuperNodes."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        config = "[superlink]\n" + toml_table({"default": CONNECTION})
        config += f"\n[superlink.{CONNECTION}]\n"
        config += toml_table({"address": f"127.0.0.1:{self.port}", "insecure": True})
        (self.home / "config.toml").write_text(config, encoding="utf-8")
        link = self.supervisor.start(
            "superlink",
            [
                self._bin("flower-superlink"),
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--database",
                str(self.workdir / "superlink.db"),
            ],
            self.env,
        )
        _wait_for_port(self.port, timeout, lambda: link.poll() is None)
        node_cmd = (
            [sys.executable, "-m", "federated.loopback_node"]
            if self.fast_poll
            else [self._bin("flower-supernode")]
        )
        for participant in self.participants:
            node_port = free_port()
            self.supervisor.start(
                f"supernode-{participant.party}",
                [
                    *node_cmd,
                    "--insecure",
                    "--superlink",
                    f"127.0.0.1:{self.port}",
                    "--port",
                    str(node_port),
                    "--node-config",
                    _node_config({"party": participant.party, **participant.node_config}),
                ],
                self.env,
            )

    def run(
        self,
        run_config: Mapping[str, Any],
        *,
        timeout: float = 600.0,
        on_round: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        """Submit one run with ``run_config`` overrides; its result document.

        ``result-path`` is set here (under the work folder) unless given. Calls
        ``on_round`` with each round's metrics as the ServerApp reports them. Raises
        :class:`FederationError` if the run fails or ``timeout`` passes.
        """
        overrides = dict(run_config)
        overrides.setdefault("result-path", str(self.workdir / "result.json"))
        result = Path(str(overrides["result-path"]))
        progress = progress_path(result)
        for stale in (result, progress):
            stale.unlink(missing_ok=True)
        config_file = self.workdir / "run-config.toml"
        config_file.write_text(toml_table(overrides), encoding="utf-8")
        cli = self.supervisor.start(
            f"flwr-run-{int(time.time() * 1000)}",
            [
                self._bin("flwr"),
                "run",
                str(APP_DIR),
                CONNECTION,
                "--run-config",
                str(config_file),
                "--stream",
            ],
            self.env,
        )
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            if progress.exists() and on_round is not None:
                lines = progress.read_text(encoding="utf-8").splitlines()
                for line in lines[seen:]:
                    on_round(json.loads(line))
                seen = len(lines)
            if result.exists():
                document: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
                if document.get("format") != RESULT_FORMAT:
                    raise FederationError(f"{result} is not a run result")
                if document["status"] != "succeeded":
                    raise FederationError(f"the run failed: {document['error']}")
                return document
            if cli.poll() is not None and not result.exists():
                time.sleep(1.0)  # the stream may end just before the file lands
                if not result.exists():
                    raise FederationError(
                        f"flwr run ended (exit {cli.returncode}) without a result; "
                        f"logs in {self.supervisor.log_dir}"
                    )
            if time.monotonic() > deadline:
                raise FederationError(f"the run did not finish within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        """Stop every process started (and theirs)."""
        self.supervisor.stop()

    def __enter__(self) -> LoopbackFederation:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
