"""Rego tests without an OPA binary: find every ``test_*`` rule and evaluate it with regopy.

A test rule passes when it evaluates to ``true``. regopy answers "undefined" for a rule
whose body fails (a false rule queried by its path), which counts as a failure, as does
any error. ``make test`` runs them through ``tests/policies/test_rego.py``;
``governance policy check`` runs them too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from policies.engine import EmbeddedEngine, PolicySource

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][\w.]*)\s*$", re.MULTILINE)
#: A test rule's head at the start of a line: ``test_name if {`` or ``test_name := ...``.
_TEST_RULE = re.compile(r"^(test_\w+)\s*(?:if\b|:=|=|\{)", re.MULTILINE)


def find_test_rules(tests: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(package, rule, file) of every test rule, each once, in file order."""
    found: dict[tuple[str, str], str] = {}
    for path, text in sorted(tests.items()):
        package = _PACKAGE.search(text)
        if package is None:
            continue
        for rule in _TEST_RULE.findall(text):
            found.setdefault((package.group(1), rule), path)
    return [(pkg, rule, path) for (pkg, rule), path in found.items()]


@dataclass(frozen=True)
class RegoTestResult:
    """One Rego test's outcome."""

    package: str
    rule: str
    file: str
    passed: bool
    detail: str = ""

    @property
    def name(self) -> str:
        """``package.rule``."""
        return f"{self.package}.{self.rule}"


class RegoTestRunner:
    """Compiles the policies with their tests once and evaluates test rules one by one."""

    def __init__(self, source: PolicySource | None = None) -> None:
        self.source = source or PolicySource.load()
        self.rules = find_test_rules(self.source.tests)
        self.engine = EmbeddedEngine(self.source, with_tests=True)

    def run(self, package: str, rule: str, file: str = "") -> RegoTestResult:
        """Evaluate one test rule: passed only if it is ``true``."""
        try:
            value = self.engine.evaluate(f"{package.replace('.', '/')}/{rule}", {})
        except Exception as exc:
            return RegoTestResult(package, rule, file, False, str(exc))
        if value is not True:
            return RegoTestResult(package, rule, file, False, f"evaluated to {value!r}")
        return RegoTestResult(package, rule, file, True)

    def run_all(self) -> list[RegoTestResult]:
        """Every test rule's outcome."""
        return [self.run(*rule) for rule in self.rules]
