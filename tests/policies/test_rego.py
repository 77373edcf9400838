"""Every ``test_*`` rule of every ``*_test.rego`` in policies/, run through regopy.

No OPA binary is needed: the embedded engine compiles the policies with their tests and
evaluates each test rule; a rule that is not ``true`` (false, undefined, an error) fails
here, so a failing Rego test fails ``make test``.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from policies.engine import PolicySource
from policies.regotests import RegoTestRunner, find_test_rules

RULES = find_test_rules(PolicySource.load().tests)


@cache
def _runner() -> RegoTestRunner:
    return RegoTestRunner()


def test_the_policies_have_rego_tests() -> None:
    files = {path for _pkg, _rule, path in RULES}
    policies = set(PolicySource.load().modules)
    # Each policy file has its _test.rego beside it, and each test file has tests.
    assert {p.removesuffix(".rego") + "_test.rego" for p in policies} <= files
    assert len(RULES) >= 40


@pytest.mark.parametrize(
    ("package", "rule", "file"), RULES, ids=[f"{pkg}.{rule}" for pkg, rule, _ in RULES]
)
def test_rego(package: str, rule: str, file: str) -> None:
    result = _runner().run(package, rule, file)
    assert result.passed, f"{result.name} in {file}: {result.detail}"


def test_a_failing_rego_test_is_reported_as_failing(tmp_path: Path) -> None:
    """The runner can fail: a false test, an undefined one and a broken one all fail."""
    folder = tmp_path / "governance" / "access"
    folder.mkdir(parents=True)
    (folder / "access.rego").write_text(
        "package governance.access\n\nimport rego.v1\n\ndecision := {}\n"
    )
    (folder / "access_test.rego").write_text(
        "package governance.access_test\n\nimport rego.v1\n\n"
        "test_true if { 1 == 1 }\n"
        "test_false if { 1 == 2 }\n"
        "test_error if { 1 / 0 == 1 }\n"
    )
    runner = RegoTestRunner(PolicySource.load(tmp_path))
    outcome = {r.rule: r.passed for r in runner.run_all()}
    assert outcome == {"test_true": True, "test_false": False, "test_error": False}
