"""The policy engine: Rego decisions about profile fields, embedded (regopy) or on OPA.

:class:`EmbeddedEngine` (the default) compiles the policies in ``policies/`` and their
data into a bundle once, at start-up and when a policy file changes, and evaluates the
entry point ``governance/access/decision`` with one interpreter per thread
(``query_bundle_entrypoint``: about 70 us; a reused interpreter that recompiled the query
would take a millisecond). :class:`OpaEngine` pushes the same policies and data to an OPA
server and queries the same entry point (:mod:`policies.opa`).

Whatever goes wrong inside an engine (an exception, a timeout, an undefined or malformed
result) yields a decision that denies every field with the reason ``engine_error``: an
engine error can only ever deny. regopy's traps (``.expressions()`` aborting the process
on an undefined result) are kept away by reading the output's JSON text only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ENTRYPOINT = "governance/access/decision"
ENGINE_ERROR = "engine_error"
#: Where the policies live: this package's folder.
POLICY_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True, slots=True)
class FieldDecision:
    """Allow or deny one field, why, and what the reader must do with it."""

    allow: bool
    reasons: tuple[str, ...] = ()
    obligations: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "allow": self.allow,
            "reasons": list(self.reasons),
            "obligations": [dict(o) for o in self.obligations],
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision for every field asked about, and the bundle that made it."""

    fields: Mapping[str, FieldDecision]
    bundle_hash: str
    flags: tuple[str, ...] = ()
    error: bool = False

    @property
    def allowed(self) -> list[str]:
        """The allowed fields, in the order asked."""
        return [name for name, d in self.fields.items() if d.allow]

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "fields": {name: d.to_json() for name, d in self.fields.items()},
            "flags": list(self.flags),
            "bundle_hash": self.bundle_hash,
        }


def deny_all(names: Iterable[str], bundle_hash: str, reason: str = ENGINE_ERROR) -> Decision:
    """Every field denied for ``reason`` (what an engine error yields)."""
    denied = FieldDecision(False, (reason,))
    return Decision({n: denied for n in names}, bundle_hash, error=True)


def field_names(policy_input: Mapping[str, Any]) -> list[str]:
    """The names of the fields asked about (for a deny-all answer), tolerant of bad input."""
    fields = policy_input.get("fields") if isinstance(policy_input, Mapping) else None
    if not isinstance(fields, list):
        return []
    return [f["name"] for f in fields if isinstance(f, Mapping) and isinstance(f.get("name"), str)]


def parse_result(result: Any, names: Sequence[str], bundle_hash: str) -> Decision:
    """The entry point's value as a :class:`Decision`; anything unexpected denies all.

    Every field asked about must be answered with a boolean ``allow``, lists of string
    reasons and of object obligations; a field not answered is denied.
    """
    if not isinstance(result, Mapping) or not isinstance(result.get("fields"), Mapping):
        return deny_all(names, bundle_hash)
    answered = result["fields"]
    flags = result.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        return deny_all(names, bundle_hash)
    out: dict[str, FieldDecision] = {}
    for name in names:
        one = answered.get(name)
        if not isinstance(one, Mapping):
            return deny_all(names, bundle_hash)
        allow, reasons, obligations = (
            one.get("allow"),
            one.get("reasons", []),
            one.get("obligations", []),
        )
        if (
            not isinstance(allow, bool)
            or not isinstance(reasons, list)
            or not all(isinstance(r, str) for r in reasons)
            or not isinstance(obligations, list)
            or not all(isinstance(o, Mapping) for o in obligations)
        ):
            return deny_all(names, bundle_hash)
        if allow and reasons:  # a contradiction: the policy is broken, deny
            return deny_all(names, bundle_hash)
        out[name] = FieldDecision(
            allow, tuple(sorted(set(reasons))), tuple(obligations) if allow else ()
        )
    return Decision(out, bundle_hash, tuple(sorted(set(flags))))


# -- the bundle: policy files and data ---------------------------------------------------------


@dataclass(frozen=True)
class PolicySource:
    """The policy files (Rego modules, tests excluded) and data documents, and their hash."""

    modules: Mapping[str, str]  # path relative to the policy folder -> Rego text
    tests: Mapping[str, str]
    data: Mapping[str, Any]  # merged data document
    bundle_hash: str
    files: tuple[Path, ...] = field(default=())
    documents: Mapping[str, Any] = field(default_factory=dict)  # "a/b" -> data.json of a/b

    @classmethod
    def load(cls, root: Path = POLICY_DIR) -> PolicySource:
        """Read every ``*.rego`` and ``data.json`` under ``root``.

        A ``data.json`` in ``a/b/`` is the document ``data.a.b``. The bundle hash is the
        SHA-256 over every file's relative path and bytes, in path order (tests included:
        they are part of what was approved).
        """
        modules: dict[str, str] = {}
        tests: dict[str, str] = {}
        data: dict[str, Any] = {}
        documents: dict[str, Any] = {}
        digest = hashlib.sha256()
        files = sorted(
            p
            for p in root.rglob("*")
            if p.is_file() and (p.suffix == ".rego" or p.name == "data.json")
        )
        for path in files:
            rel = path.relative_to(root).as_posix()
            raw = path.read_bytes()
            digest.update(rel.encode() + b"\0" + len(raw).to_bytes(8, "big") + raw)
            if path.suffix == ".rego":
                (tests if path.stem.endswith("_test") else modules)[rel] = raw.decode("utf-8")
            else:
                document = json.loads(raw)
                folder = path.parent.relative_to(root)
                documents[folder.as_posix()] = document
                node = data
                for part in folder.parts:
                    node = node.setdefault(part, {})
                node.update(document)
        return cls(modules, tests, data, digest.hexdigest(), tuple(files), documents)


class Engine(Protocol):
    """What the platform asks of a policy engine."""

    bundle_hash: str

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        """The decision for ``policy_input`` (never raises: errors deny)."""
        ...


class _ResultCache:
    """The last ``size`` results of one bundle, by the canonical JSON text of their input.

    A Rego decision is a pure function of its input and the bundle (the policies read no
    clock: the hour and day come in the input), so an input seen before has the answer it
    had then. Results are kept as JSON text and parsed on every hit, so no caller ever
    shares (or can alter) another caller's objects. A new bundle gets a new cache.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> str | None:
        with self._lock:
            text = self._items.get(key)
            if text is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return text

    def put(self, key: str, text: str) -> None:
        with self._lock:
            self._items[key] = text
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def _cache_key(policy_input: Mapping[str, Any]) -> str | None:
    """The input as canonical JSON text (None when it is not JSON: it is not cached)."""
    try:
        return json.dumps(policy_input, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        return None


#: Results kept per bundle by default (a few MB; 0 turns the cache off).
DEFAULT_CACHE_SIZE = 4096


class EmbeddedEngine:
    """Rego evaluated in-process by regopy, from a bundle compiled once.

    The last ``cache_size`` results are kept per bundle (:class:`_ResultCache`): a cohort
    export asks the same question for every subject in the same consent state, and gets
    the answer without evaluating it again. ``cache_size=0`` evaluates every decision.
    """

    def __init__(
        self,
        source: PolicySource | None = None,
        *,
        with_tests: bool = False,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.cache_size = cache_size
        self.load(source or PolicySource.load(), with_tests=with_tests)

    def load(self, source: PolicySource, *, with_tests: bool = False) -> None:
        """Compile ``source`` (raises on a compile error; the previous bundle stays)."""
        from regopy import Interpreter

        builder = Interpreter()
        builder.add_data_json(json.dumps(source.data))
        modules = {**source.modules, **(source.tests if with_tests else {})}
        for name, text in modules.items():
            builder.add_module(name, text)
        entrypoints = [ENTRYPOINT, *(self._test_entrypoints(source) if with_tests else ())]
        bundle = builder.build(None, entrypoints)
        with self._lock:
            self._bundle = bundle
            self._cache = _ResultCache(self.cache_size) if self.cache_size > 0 else None
            self.source = source
            self.bundle_hash = source.bundle_hash
            self.generation = getattr(self, "generation", 0) + 1

    @staticmethod
    def _test_entrypoints(source: PolicySource) -> list[str]:
        from policies.regotests import find_test_rules

        return [f"{pkg.replace('.', '/')}/{rule}" for pkg, rule, _ in find_test_rules(source.tests)]

    def _interpreter(self) -> Any:
        from regopy import Interpreter

        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = Interpreter()
        return interpreter

    def evaluate(self, entrypoint: str, policy_input: Mapping[str, Any]) -> Any:
        """The value of ``entrypoint`` for ``policy_input``; raises on error or undefined."""
        return self._evaluate(self._bundle, entrypoint, policy_input)[0]

    def _evaluate(self, bundle: Any, entrypoint: str, policy_input: Mapping[str, Any]) -> Any:
        """(value, regopy's JSON text) of ``entrypoint``; raises on error or undefined."""
        interpreter = self._interpreter()
        interpreter.set_input(policy_input)
        output = interpreter.query_bundle_entrypoint(bundle, entrypoint)
        text = str(output)
        if not output.ok():
            raise EngineError(f"evaluation failed: {text[:200]}")
        if text.strip() == "undefined":
            raise EngineError("the entry point is undefined for this input")
        expressions = json.loads(text).get("expressions")
        if not isinstance(expressions, list) or len(expressions) != 1:
            raise EngineError("the result does not hold exactly one value")
        return expressions[0], text

    def decide(self, policy_input: Mapping[str, Any]) -> Decision:
        """The decision for ``policy_input``; an engine error denies every field."""
        names = field_names(policy_input)
        with self._lock:  # one bundle, its hash and its cache, even across a reload
            bundle, bundle_hash, cache = self._bundle, self.bundle_hash, self._cache
        key = _cache_key(policy_input) if cache is not None else None
        try:
            text = cache.get(key) if cache is not None and key is not None else None
            if text is not None:
                result = json.loads(text)["expressions"][0]
            else:
                result, text = self._evaluate(bundle, ENTRYPOINT, policy_input)
                if cache is not None and key is not None:
                    cache.put(key, text)
        except Exception:
            return deny_all(names, bundle_hash)
        return parse_result(result, names, bundle_hash)

    def cache_stats(self) -> dict[str, int]:
        """Hits, misses and size of the current bundle's result cache (zeros when off)."""
        cache = self._cache
        if cache is None:
            return {"hits": 0, "misses": 0, "size": 0}
        return {"hits": cache.hits, "misses": cache.misses, "size": len(cache._items)}


class EngineError(RuntimeError):
    """The engine could not produce a value (it denies; the message never holds input)."""
