"""Rego policies, their data and their tests, evaluated in-process or by an OPA server.

:func:`init_app` builds the app's engine at start-up (``GOVERNANCE_POLICY_ENGINE``):
a policy that does not compile stops the app. :func:`get_engine` hands it out;
:func:`decide` is what callers use: it applies the configured timeout and, in
development, recompiles the policies when a file changed (a change that does not compile
keeps the previous bundle and is logged).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app

from policies.engine import (
    ENGINE_ERROR,
    Decision,
    EmbeddedEngine,
    Engine,
    PolicySource,
    deny_all,
    field_names,
)

__all__ = ["Decision", "decide", "get_engine", "init_app"]

_EXTENSION = "governance.policy"
#: How often (seconds) development mode looks at the policy files' modification times.
RELOAD_CHECK_SECONDS = 1.0
log = logging.getLogger("governance.policy")


class PolicyService:
    """The app's engine, its timeout, and the development reloader."""

    def __init__(self, engine: Engine, *, timeout_ms: int, reload: bool) -> None:
        self.engine = engine
        self.timeout_s = timeout_ms / 1000
        self.reload = reload and isinstance(engine, EmbeddedEngine)
        self._stamp = self._file_stamp() if self.reload else None
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    @property
    def bundle_hash(self) -> str:
        """The hash of the policies and data in force."""
        return self.engine.bundle_hash

    def _file_stamp(self) -> tuple[tuple[str, int], ...]:
        source = PolicySource.load()
        return tuple((str(p), p.stat().st_mtime_ns) for p in source.files)

    def maybe_reload(self) -> None:
        """Recompile when a policy file changed (development); keep the old bundle on error."""
        if not self.reload or time.monotonic() - self._checked < RELOAD_CHECK_SECONDS:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                assert isinstance(self.engine, EmbeddedEngine)
                self.engine.load(PolicySource.load())
            except Exception as exc:
                log.error(
                    "policy reload failed; the previous bundle stays",
                    extra={"error": str(exc)[:300]},
                )
                return
            log.info("policies reloaded", extra={"bundle_hash": self.engine.bundle_hash})

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        """The engine's decision, or deny-all (``engine_error``) if it came too late."""
        self.maybe_reload()
        started = time.perf_counter()
        decision = self.engine.decide(policy_input)
        if time.perf_counter() - started > self.timeout_s:
            log.warning("policy decision over its time limit; denied")
            return deny_all(field_names(policy_input), decision.bundle_hash, ENGINE_ERROR)
        return decision


def build_engine(config: Mapping[str, Any]) -> Engine:
    """The engine the configuration names (policies loaded and compiled or pushed)."""
    if config["POLICY_ENGINE"] == "opa":
        from policies.opa import OpaEngine

        return OpaEngine(config["OPA_URL"], timeout_s=config["POLICY_TIMEOUT_MS"] / 1000)
    return EmbeddedEngine(cache_size=config["POLICY_CACHE_SIZE"])


def init_app(app: Flask) -> None:
    """Build the policy engine (a policy that does not compile stops the app here)."""
    reload = app.config.get("POLICY_RELOAD")
    if reload is None:
        reload = app.config["ENV"] == "development"
    app.extensions[_EXTENSION] = PolicyService(
        build_engine(app.config), timeout_ms=app.config["POLICY_TIMEOUT_MS"], reload=bool(reload)
    )
    from policies import cli, views

    views.init_app(app)
    cli.init_app(app)


def service(app: Flask | None = None) -> PolicyService:
    """The app's policy service."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    svc: PolicyService = app.extensions[_EXTENSION]
    return svc


def get_engine(app: Flask | None = None) -> Engine:
    """The app's policy engine."""
    return service(app).engine


def decide(policy_input: Mapping[str, Any], app: Flask | None = None) -> Decision:
    """Decide ``policy_input`` with the app's engine (timeout and reload applied)."""
    return service(app).decide(policy_input)
