"""The OPA-server engine: the same policies and data, evaluated by an OPA server.

At start-up :class:`OpaEngine` pushes every policy module (``PUT /v1/policies/<path>``)
and the data document (``PUT /v1/data/governance/access``) with opa-python-client, then
queries the same entry point as the embedded engine. A refused push stops the app; a
query that fails, times out or answers undefined denies every field (``engine_error``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from policies.engine import (
    ENTRYPOINT,
    Decision,
    PolicySource,
    deny_all,
    field_names,
    parse_result,
)


class OpaEngine:
    """Decisions from an OPA server (``GOVERNANCE_OPA_URL``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.2,
        token: str | None = None,
        source: PolicySource | None = None,
    ) -> None:
        from opa_client import OpaClient

        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("GOVERNANCE_OPA_URL must be an http(s) URL")
        self.client = OpaClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 80),
            ssl=parts.scheme == "https",
            token=token,
            timeout=timeout_s,
        )
        self.source = source or PolicySource.load()
        self.bundle_hash = self.source.bundle_hash
        self.push()

    def push(self) -> None:
        """Load the policies and their data into the server (raises if it refuses)."""
        for name, text in self.source.modules.items():
            if not self.client.update_policy_from_string(text, name, rego_compat=False):
                raise RuntimeError(f"the OPA server refused the policy {name}")
        for folder, document in self.source.documents.items():
            if not self.client.update_or_create_data(document, folder):
                raise RuntimeError(f"the OPA server refused the data at {folder}")

    def evaluate(self, entrypoint: str, policy_input: Mapping[str, Any]) -> Any:
        """The value of ``entrypoint``; raises when undefined or on any error."""
        package, _, rule = entrypoint.rpartition("/")
        answer = self.client.query_rule(dict(policy_input), package, rule)
        if "result" not in answer:
            raise LookupError("the entry point is undefined for this input")
        return answer["result"]

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        """The server's decision; anything going wrong denies every field."""
        names = field_names(policy_input)
        try:
            result = self.evaluate(ENTRYPOINT, policy_input)
        except Exception:
            return deny_all(names, self.bundle_hash)
        return parse_result(result, names, self.bundle_hash)
