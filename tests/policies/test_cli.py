"""``governance policy check`` and ``explain``; recompiling on change in development."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

import policies
from policies import PolicyService
from policies.engine import EmbeddedEngine, PolicySource

QUESTION = {
    "actor": {"type": "operator", "id": "7", "roles": ["marketing"], "purposes": []},
    "purpose": {"id": "marketing_push", "legal_basis": "consent", "separate_consent": False},
    "consent": {"valid": False, "reason": "withdrawn", "tier": None, "by_guardian": False},
    "subject": {"minor": False},
    "personalised_recommendation": True,
    "fields": [
        {
            "name": "nickname",
            "category": "profile",
            "tier": "basic",
            "classification": "internal",
            "pipl_sensitive": False,
            "free_text": False,
        }
    ],
    "context": {"hour": 10, "volume": 1, "bulk": False, "today": "2026-11-25"},
}


def test_check_runs_every_rego_test(runner: Any) -> None:
    result = runner.invoke(args=["policy", "check"])
    assert result.exit_code == 0, result.output
    passed = int(result.output.split(" passed")[0].split()[-1])
    assert passed >= 40 and ", 0 failed" in result.output


def test_explain_shows_the_decision_and_its_reasons(runner: Any) -> None:
    result = runner.invoke(args=["policy", "explain", "-"], input=json.dumps(QUESTION))
    assert result.exit_code == 0, result.output
    assert "deny  nickname" in result.output and "consent_invalid" in result.output
    assert "bundle " in result.output


def test_explain_refuses_what_is_not_a_json_object(runner: Any) -> None:
    result = runner.invoke(args=["policy", "explain", "-"], input="[1, 2]")
    assert result.exit_code != 0 and "JSON object" in result.output


def test_a_changed_policy_is_recompiled_and_a_broken_one_keeps_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "policies"
    shutil.copytree(Path(policies.__file__).parent / "governance", root / "governance")
    monkeypatch.setattr(policies, "RELOAD_CHECK_SECONDS", 0.0)
    monkeypatch.setattr(policies, "PolicySource", _Loader(root))
    engine = EmbeddedEngine(PolicySource.load(root))
    service = PolicyService(engine, timeout_ms=1000, reload=True)
    before = service.bundle_hash

    data = root / "governance" / "access" / "data.json"
    grants = json.loads(data.read_text())
    grants["roles"]["marketing"]["classifications"] = []
    data.write_text(json.dumps(grants))
    os.utime(data, ns=(1, 1))
    denied = service.decide(
        QUESTION | {"consent": {**QUESTION["consent"], "valid": True, "tier": "basic"}}
    )
    assert service.bundle_hash != before
    assert "classification_not_granted" in denied.fields["nickname"].reasons

    reloaded = service.bundle_hash
    (root / "governance" / "access" / "access.rego").write_text("package governance.access\n{")
    service.decide(QUESTION)
    assert service.bundle_hash == reloaded  # the broken edit was not loaded


class _Loader:
    """``PolicySource`` as seen by the reloader, reading another folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def load(self, root: Path | None = None) -> PolicySource:
        return PolicySource.load(self.root)
