"""Verification: recompute every leaf, the chain and the tree, and check every checkpoint.

:class:`LogVerifier` is pure: feed it stored rows in order and the checkpoints, and it
names the first thing that does not match. :func:`verify_database` feeds it from the
database, streaming, so a billion-entry log verifies in constant memory.

What is checked, in log order:

- ``missing`` / ``sequence``: the entries are numbered 0, 1, 2, ... with no gap;
- ``leaf``: the leaf hash of the entry's canonical bytes equals the stored one
  (a changed column, or two rows swapped, shows here);
- ``chain``: SHA-256(previous chain || leaf) equals the stored chain hash;
- ``tree``: the Merkle nodes the entry completed equal the stored ones;
- at each checkpoint's tree size: its note is well formed and agrees with its columns
  (``checkpoint-format``), its signature verifies with a known key
  (``checkpoint-signature``), and its root and chain equal the recomputed ones
  (``checkpoint-root``, ``checkpoint-chain``);
- ``checkpoint-consistency``: each checkpoint is consistent with the next (an RFC 9162
  consistency proof built from the recomputed tree verifies);
- ``truncated``: no checkpoint covers more entries than the log holds.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Engine, text

from audit import checkpoint, merkle
from audit.log import GENESIS_CHAIN, CheckpointInfo, all_checkpoints, fetch_nodes

#: Column order of the rows :class:`LogVerifier` consumes.
ROW_COLUMNS = (
    "seq",
    "logged_at",
    "actor_type",
    "actor_id",
    "action",
    "subject_id",
    "purpose",
    "resource",
    "decision",
    "reasons",
    "policy_hash",
    "request_id",
    "details",
    "leaf_hash",
    "chain_hash",
    "nodes",
)


@dataclass(frozen=True)
class Failure:
    """The first thing that did not match."""

    check: str  # leaf, chain, tree, missing, sequence, truncated, checkpoint-...
    message: str
    entry: int | None = None
    checkpoint: int | None = None


@dataclass
class Report:
    """The outcome of one verification."""

    ok: bool = True
    entries_checked: int = 0
    first_entry: int | None = None
    last_entry: int | None = None
    checkpoints_checked: int = 0
    tree_size: int = 0
    root_hash: str | None = None
    since_checkpoint: int | None = None
    seconds: float = 0.0
    failure: Failure | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        out = asdict(self)
        out["failure"] = None if self.failure is None else asdict(self.failure)
        return out


@dataclass
class Start:
    """Where verification starts: an empty log, or a trusted checkpoint's state."""

    size: int = 0
    chain: bytes = GENESIS_CHAIN
    frontier_hashes: Sequence[bytes] = ()
    checkpoint_id: int | None = None


class VerificationFailed(Exception):
    """Carries the first failure out of the hot loop."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


class LogVerifier:
    """Recomputes the log from its rows; pure (no database)."""

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey],
        checkpoints: Iterable[CheckpointInfo],
        *,
        origin: str | None = None,
        start: Start | None = None,
    ) -> None:
        self.public_keys = dict(public_keys)
        self.origin = origin
        start = start or Start()
        self.start = start
        self.expected = start.size
        self.chain = start.chain
        self.frontier = merkle.Frontier(start.size, start.frontier_hashes)
        cps = sorted(checkpoints, key=lambda c: (c.tree_size, c.id))
        self._cps = [c for c in cps if c.tree_size > start.size]
        self._checked: list[CheckpointInfo] = [c for c in cps if c.tree_size == start.size]
        self.checkpoints_checked = 0
        # Nodes the consistency proofs between consecutive checkpoints will need, caught
        # as the recomputed tree produces them.
        sizes = [c.tree_size for c in self._checked[-1:] + self._cps]
        self._needed: set[merkle.Node] = set()
        for old, new in itertools.pairwise(sizes):
            self._needed |= merkle.needed_nodes(merkle.consistency_ranges(old, new))
        self._seen: dict[merkle.Node, bytes] = {}

    # -- checkpoints

    def _fail(self, check: str, message: str, **where: Any) -> None:
        raise VerificationFailed(Failure(check, message, **where))

    def check_checkpoint_note(self, cp: CheckpointInfo) -> checkpoint.TreeHead:
        """Format and signature of one checkpoint, and that its columns say what it says."""
        name = f"checkpoint {cp.id} (tree size {cp.tree_size})"
        try:
            head = checkpoint.decode(cp.body)
        except checkpoint.CheckpointFormatError as exc:
            self._fail("checkpoint-format", f"{name}: {exc}", checkpoint=cp.id)
            raise  # unreachable, for type checkers
        if (head.size, head.root, head.chain, head.time) != (
            cp.tree_size,
            cp.root_hash,
            cp.chain_hash,
            cp.signed_at,
        ) or (self.origin is not None and head.origin != self.origin):
            self._fail(
                "checkpoint-format",
                f"{name}: its stored columns or origin differ from its signed note",
                checkpoint=cp.id,
            )
        key = self.public_keys.get(cp.key_id)
        if key is None:
            self._fail(
                "checkpoint-signature",
                f"{name}: signed by key {cp.key_id}, which is not a known audit key",
                checkpoint=cp.id,
            )
            raise AssertionError  # unreachable
        if not checkpoint.signature_valid(cp.body, cp.signature, key):
            self._fail(
                "checkpoint-signature",
                f"{name}: the signature does not verify with key {cp.key_id}",
                checkpoint=cp.id,
            )
        return head

    def _check_checkpoint_at_head(self, cp: CheckpointInfo) -> None:
        self.check_checkpoint_note(cp)
        name = f"checkpoint {cp.id} (tree size {cp.tree_size})"
        if cp.root_hash != self.frontier.root():
            self._fail(
                "checkpoint-root",
                f"{name}: its signed root differs from the root recomputed over entries "
                f"0..{cp.tree_size - 1}",
                checkpoint=cp.id,
                entry=cp.tree_size - 1,
            )
        if cp.chain_hash != self.chain:
            self._fail(
                "checkpoint-chain",
                f"{name}: its signed chain hash differs from the recomputed chain",
                checkpoint=cp.id,
                entry=cp.tree_size - 1,
            )
        if self._checked:
            prev = self._checked[-1]
            ranges = merkle.consistency_ranges(prev.tree_size, cp.tree_size)
            proof = merkle.hash_ranges(ranges, self._seen)
            if not merkle.verify_consistency(
                prev.tree_size, cp.tree_size, prev.root_hash, cp.root_hash, proof
            ):
                self._fail(
                    "checkpoint-consistency",
                    f"{name} is not consistent with checkpoint {prev.id} "
                    f"(tree size {prev.tree_size})",
                    checkpoint=cp.id,
                )
        self._checked.append(cp)
        self.checkpoints_checked += 1

    def check_start_checkpoints(self) -> None:
        """Signatures of the checkpoints at the start size (``--since-checkpoint``)."""
        for cp in self._checked:
            self.check_checkpoint_note(cp)
            self.checkpoints_checked += 1

    # -- entries

    def feed(self, rows: Iterable[Sequence[Any]]) -> None:
        """Check ``rows`` (in :data:`ROW_COLUMNS` order, ascending seq); raises on failure."""
        dumps, fragment, sorted_keys = orjson.dumps, orjson.Fragment, orjson.OPT_SORT_KEYS
        sha256, node_hash = hashlib.sha256, merkle.node_hash
        expected, chain = self.expected, self.chain
        frontier = self.frontier
        levels, hashes = frontier._levels, frontier._hashes  # the hot loop appends inline
        needed = self._needed
        cps = self._cps
        next_cp = cps[0].tree_size if cps else -1
        try:
            for row in rows:
                (seq, at, atype, aid, action, subj, purpose, res, dec, reasons, policy, rid,
                 details, leaf_stored, chain_stored, nodes_stored) = row  # fmt: skip
                if seq != expected:
                    if seq > expected:
                        self._fail(
                            "missing",
                            f"entry {expected} is missing: the log goes from entry "
                            f"{expected - 1} to entry {seq}",
                            entry=expected,
                        )
                    self._fail(
                        "sequence",
                        f"entry {seq} is out of order (expected entry {expected})",
                        entry=seq,
                    )
                body = dumps(
                    {
                        "v": 1,
                        "seq": seq,
                        "time": at,
                        "actor": {"type": atype, "id": aid},
                        "action": action,
                        "subject": subj,
                        "purpose": purpose,
                        "resource": res,
                        "decision": dec,
                        "reasons": fragment(reasons),
                        "policy": policy,
                        "request_id": rid,
                        "details": fragment(details),
                    },
                    option=sorted_keys,
                )
                leaf = sha256(b"\x00" + body).digest()
                if leaf != leaf_stored:
                    self._fail(
                        "leaf",
                        f"entry {seq}: its content does not match its leaf hash "
                        "(the row was changed after it was written)",
                        entry=seq,
                    )
                chain = sha256(chain + leaf).digest()
                if chain != chain_stored:
                    self._fail(
                        "chain",
                        f"entry {seq}: the hash chain breaks here (stored chain hash differs)",
                        entry=seq,
                    )
                # Frontier append, inlined.
                level, current = 0, leaf
                completed = b""
                while levels and levels[-1] == level:
                    levels.pop()
                    current = node_hash(hashes.pop(), current)
                    level += 1
                    completed += current
                levels.append(level)
                hashes.append(current)
                frontier.size += 1
                if completed != nodes_stored:
                    self._fail(
                        "tree",
                        f"entry {seq}: the Merkle nodes stored with it differ from the "
                        "recomputed ones",
                        entry=seq,
                    )
                if needed:
                    self._collect(seq, leaf, completed)
                expected += 1
                self.expected, self.chain = expected, chain
                while expected == next_cp:
                    self._check_checkpoint_at_head(cps.pop(0))
                    next_cp = cps[0].tree_size if cps else -1
        finally:
            self.expected, self.chain = expected, chain

    def _collect(self, seq: int, leaf: bytes, completed: bytes) -> None:
        if (0, seq) in self._needed:
            self._seen[(0, seq)] = leaf
        for i in range(len(completed) // 32):
            level = i + 1
            node = (level, ((seq + 1) >> level) - 1)
            if node in self._needed:
                self._seen[node] = completed[i * 32 : level * 32]

    def finish(self) -> None:
        """After the last row: no checkpoint may cover more entries than were fed."""
        if self._cps:
            cp = self._cps[0]
            self._fail(
                "truncated",
                f"checkpoint {cp.id} was signed over {cp.tree_size} entries but the log "
                f"ends after {self.expected} (entries {self.expected}..{cp.tree_size - 1} "
                "are gone)",
                checkpoint=cp.id,
                entry=self.expected,
            )


# -- from the database ----------------------------------------------------------------------

BATCH = 20_000
_SELECT = text(
    f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_entries WHERE seq >= :start ORDER BY seq"  # noqa: S608 - constant column list
)


def _start_from_checkpoint(engine: Engine, cp: CheckpointInfo) -> Start:
    """Trust the state at ``cp`` once its stored frontier reproduces its signed root."""
    wanted = merkle.Frontier.nodes_for(cp.tree_size)
    with engine.connect() as conn:
        try:
            nodes = fetch_nodes(conn, wanted)
        except LookupError as exc:
            raise VerificationFailed(
                Failure(
                    "truncated",
                    f"checkpoint {cp.id} covers {cp.tree_size} entries but the log lacks "
                    f"rows it needs ({exc})",
                    checkpoint=cp.id,
                )
            ) from exc
    hashes = [nodes[n] for n in wanted]
    if merkle.Frontier(cp.tree_size, hashes).root() != cp.root_hash:
        raise VerificationFailed(
            Failure(
                "checkpoint-root",
                f"checkpoint {cp.id} (tree size {cp.tree_size}): the stored tree no longer "
                "matches its signed root; run a full verification",
                checkpoint=cp.id,
            )
        )
    return Start(cp.tree_size, cp.chain_hash, hashes, cp.id)


def verify_database(
    engine: Engine,
    public_keys: Mapping[str, Ed25519PublicKey],
    *,
    origin: str | None = None,
    since_checkpoint: bool = False,
    progress: Callable[[int], None] | None = None,
    total: Callable[[int], None] | None = None,
) -> Report:
    """Verify the log in ``engine``; ``progress(n)`` is told of every ``n`` rows checked."""
    started = time.perf_counter()
    report = Report()
    with engine.connect() as conn:
        cps = all_checkpoints(conn)
        last = conn.execute(text("SELECT max(seq) FROM audit_entries")).scalar()
    size_now = 0 if last is None else int(last) + 1
    start = Start()
    try:
        if since_checkpoint and cps:
            base = max(cps, key=lambda c: c.tree_size)
            probe = LogVerifier(public_keys, [base], origin=origin)
            probe.check_checkpoint_note(base)
            start = _start_from_checkpoint(engine, base)
            report.since_checkpoint = base.id
        verifier = LogVerifier(public_keys, cps, origin=origin, start=start)
        verifier.check_start_checkpoints()
        if total is not None:
            total(max(size_now - start.size, 0))
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(
                _SELECT, {"start": start.size}
            )
            for batch in result.partitions(BATCH):
                verifier.feed(batch)
                if progress is not None:
                    progress(len(batch))
        verifier.finish()
    except VerificationFailed as exc:
        report.ok = False
        report.failure = exc.failure
        verifier_or_none = locals().get("verifier")
        if isinstance(verifier_or_none, LogVerifier):
            _fill(report, verifier_or_none, start)
        report.seconds = time.perf_counter() - started
        return report
    _fill(report, verifier, start)
    report.seconds = time.perf_counter() - started
    return report


def _fill(report: Report, verifier: LogVerifier, start: Start) -> None:
    checked = verifier.expected - start.size
    report.entries_checked = checked
    report.first_entry = start.size if checked else None
    report.last_entry = verifier.expected - 1 if checked else None
    report.checkpoints_checked = verifier.checkpoints_checked
    report.tree_size = verifier.expected
    report.root_hash = checkpoint.b64(verifier.frontier.root())
