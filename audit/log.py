"""Appending to the audit log, signing checkpoints, and reading proofs back.

:func:`append` is the one way in. It validates the entry and checks it for PII (nothing
is written if either fails), then, holding the log's write lock, gives it the next
sequence number, hashes it into the Merkle tree and the hash chain, and inserts it in the
caller's transaction: the entry commits or rolls back with whatever it records.

The write lock makes the log linear across threads, gunicorn workers and CLI processes:
``BEGIN IMMEDIATE`` on SQLite (taken before the head is read), a transaction-scoped
advisory lock on PostgreSQL. The primary key on ``seq`` is the last line of defence: two
writers can never both commit entry *n*.

Each process caches the head of the log (size, chain hash, Merkle frontier); under the
lock it reads the last row and reloads the frontier from the stored perfect-subtree
nodes only when another writer moved the head. An append therefore costs two statements
and O(log n) hashing, never a rebuild.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import threading
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.orm import Session

from audit import canonical, checkpoint, merkle, pii
from audit.models import CHECKPOINTS, DECISIONS, ENTRIES

GENESIS_CHAIN = bytes(32)
MAX_DETAILS_BYTES = 16_384
ACTOR_TYPES = ("operator", "service", "subject", "partner", "system", "anonymous")
#: Taken with pg_advisory_xact_lock by every PostgreSQL appender ("audit-lg" in ASCII).
PG_LOCK_KEY = 0x61756469742D6C67

_ACTION = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_SUBJECT_ID = re.compile(r"^sub_[A-Za-z0-9_-]{22}$")
_REASON = re.compile(r"^[A-Za-z0-9_.:/=-]{1,128}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class InvalidAuditEntry(ValueError):
    """An entry that cannot be written as given; nothing was written."""


@dataclass(frozen=True)
class EntryDraft:
    """An entry before it has a place in the log."""

    action: str
    actor_type: str
    actor_id: str
    decision: str = "allow"
    subject: str | None = None
    purpose: str | None = None
    resource: str | None = None
    reasons: Sequence[str] = ()
    policy_hash: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Appended:
    """Where an entry landed."""

    seq: int
    logged_at: str
    leaf_hash: bytes
    chain_hash: bytes


@dataclass(frozen=True)
class Signer:
    """What checkpointing needs: the signing key, the log's name, how often to sign."""

    key: Ed25519PrivateKey
    origin: str
    interval_seconds: int = 0  # 0: only on demand and at shutdown

    @property
    def key_id(self) -> str:
        """Id of the public half."""
        return checkpoint.key_id(self.key.public_key())


@dataclass
class _Head:
    size: int
    chain: bytes
    last_time: str
    frontier: merkle.Frontier
    checkpoint_id: int  # -1: none yet
    checkpoint_size: int
    checkpoint_time: str | None
    checkpoint_epoch: float | None = None  # checkpoint_time, parsed once


_heads: weakref.WeakKeyDictionary[Engine, _Head] = weakref.WeakKeyDictionary()
_heads_lock = threading.Lock()


def format_time(moment: dt.datetime) -> str:
    """The fixed-width UTC form entries store: ``2026-11-25T10:00:00.123456Z``."""
    if moment.utcoffset() != dt.timedelta(0):
        moment = moment.astimezone(dt.UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> dt.datetime:
    """Inverse of :func:`format_time`."""
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


_INSERT_COLUMNS = tuple(c.name for c in ENTRIES.columns)


@functools.cache
def _insert_sql(paramstyle: str) -> str:
    marker = "?" if paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO audit_entries ({', '.join(_INSERT_COLUMNS)}) "  # noqa: S608 - constant
        f"VALUES ({', '.join([marker] * len(_INSERT_COLUMNS))})"
    )


def chain_next(chain: bytes, leaf: bytes) -> bytes:
    """The running hash chain after ``leaf``: SHA-256(previous chain || leaf hash)."""
    return hashlib.sha256(chain + leaf).digest()


# -- validation ------------------------------------------------------------------------------


def _row(draft: EntryDraft) -> dict[str, Any]:
    """Validate ``draft`` and return its columns (without position and hashes)."""
    problems = []
    if not _ACTION.match(draft.action):
        problems.append("action must be a lower-case name like 'profile.read'")
    if draft.decision not in DECISIONS:
        problems.append(f"decision must be one of {', '.join(DECISIONS)}")
    if draft.actor_type not in ACTOR_TYPES:
        problems.append(f"actor type must be one of {', '.join(ACTOR_TYPES)}")
    if not _OPAQUE_ID.match(draft.actor_id):
        problems.append("actor id must be an opaque id (letters, digits, _.:-)")
    elif draft.actor_type == "subject" and not _SUBJECT_ID.match(draft.actor_id):
        problems.append("a subject actor is named by its opaque subject id")
    if draft.subject is not None and not _SUBJECT_ID.match(draft.subject):
        problems.append("subject must be an opaque subject id (sub_...), never a value")
    if draft.purpose is not None and not _PURPOSE.match(draft.purpose):
        problems.append("purpose must be a purpose id")
    if draft.resource is not None and not 0 < len(draft.resource) <= 128:
        problems.append("resource must be 1-128 characters")
    if isinstance(draft.reasons, str) or not all(
        isinstance(r, str) and _REASON.match(r) for r in draft.reasons
    ):
        problems.append("reasons must be a list of machine-readable codes")
    if draft.policy_hash is not None and not _HEX64.match(draft.policy_hash):
        problems.append("policy hash must be 64 lower-case hex digits")
    if draft.request_id is not None and not _REQUEST_ID.match(draft.request_id):
        problems.append("request id must be 1-64 characters of letters, digits, ._-")
    if not isinstance(draft.details, Mapping):
        problems.append("details must be an object")
    if problems:
        raise InvalidAuditEntry("audit entry refused: " + "; ".join(problems))
    try:
        details = canonical.canonical(dict(draft.details), path="details")
    except canonical.CanonicalError as exc:
        raise InvalidAuditEntry(f"audit entry refused: {exc}") from exc
    if len(details) > MAX_DETAILS_BYTES:
        raise InvalidAuditEntry(
            f"audit entry refused: details exceed {MAX_DETAILS_BYTES} bytes; "
            "store references, not content"
        )
    pii.check(
        {
            "resource": draft.resource,
            "reasons": list(draft.reasons),
            "request_id": draft.request_id,
            "details": draft.details,
        }
    )
    return {
        "actor_type": draft.actor_type,
        "actor_id": draft.actor_id,
        "action": draft.action,
        "subject_id": draft.subject,
        "purpose": draft.purpose,
        "resource": draft.resource,
        "decision": draft.decision,
        "reasons": canonical.canonical(list(draft.reasons)).decode(),
        "policy_hash": draft.policy_hash,
        "request_id": draft.request_id,
        "details": details.decode(),
    }


def row_bytes(row: Mapping[str, Any]) -> bytes:
    """Canonical bytes of an entry from its columns (a row mapping or a dict)."""
    return canonical.entry_bytes(
        seq=row["seq"],
        time=row["logged_at"],
        actor_type=row["actor_type"],
        actor_id=row["actor_id"],
        action=row["action"],
        subject=row["subject_id"],
        purpose=row["purpose"],
        resource=row["resource"],
        decision=row["decision"],
        reasons=row["reasons"],
        policy=row["policy_hash"],
        request_id=row["request_id"],
        details=row["details"],
    )


# -- the head and its lock -------------------------------------------------------------------


def _take_write_lock(conn: Connection) -> None:
    if conn.dialect.name == "sqlite":
        raw: Any = conn.connection.dbapi_connection
        if not raw.in_transaction:
            # Take the write lock before reading the head. A transaction that has already
            # written holds it since that write.
            raw.execute("BEGIN IMMEDIATE")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_LOCK_KEY})")
    else:  # pragma: no cover - the platform runs on SQLite and PostgreSQL only
        raise RuntimeError(f"no audit write lock for {conn.dialect.name}")


def lock(session: Session) -> None:
    """Take the log's write lock now, for the rest of the session's transaction.

    For callers whose own rows must be ordered as their audit entries are (the consent
    ledger): taken before their first write, it serialises them with every appender.
    """
    _take_write_lock(session.connection())


def fetch_nodes(conn: Connection, nodes: Iterable[merkle.Node]) -> dict[merkle.Node, bytes]:
    """Hashes of perfect subtrees, read from the rows that store them (one query)."""
    wanted = set(nodes)
    by_seq: dict[int, list[merkle.Node]] = {}
    for level, index in wanted:
        by_seq.setdefault(((index + 1) << level) - 1, []).append((level, index))
    if not by_seq:
        return {}
    t = ENTRIES
    rows = conn.execute(
        select(t.c.seq, t.c.leaf_hash, t.c.nodes).where(t.c.seq.in_(sorted(by_seq)))
    ).all()
    out: dict[merkle.Node, bytes] = {}
    for seq, leaf, stored in rows:
        for level, index in by_seq[seq]:
            if level == 0:
                out[(level, index)] = bytes(leaf)
            else:
                chunk = bytes(stored[(level - 1) * 32 : level * 32])
                if len(chunk) == 32:
                    out[(level, index)] = chunk
    missing = wanted - out.keys()
    if missing:
        raise LookupError(f"the log has no stored node for {sorted(missing)[:3]}")
    return out


def _load_head(conn: Connection) -> _Head:
    t = ENTRIES
    last = conn.execute(
        select(t.c.seq, t.c.chain_hash, t.c.logged_at).order_by(t.c.seq.desc()).limit(1)
    ).first()
    c = CHECKPOINTS
    cp = conn.execute(
        select(c.c.id, c.c.tree_size, c.c.signed_at).order_by(c.c.id.desc()).limit(1)
    ).first()
    size = 0 if last is None else last.seq + 1
    wanted = merkle.Frontier.nodes_for(size)
    nodes = fetch_nodes(conn, wanted)
    return _Head(
        size=size,
        chain=GENESIS_CHAIN if last is None else bytes(last.chain_hash),
        last_time="" if last is None else last.logged_at,
        frontier=merkle.Frontier(size, [nodes[n] for n in wanted]),
        checkpoint_id=-1 if cp is None else cp.id,
        checkpoint_size=0 if cp is None else cp.tree_size,
        checkpoint_time=None if cp is None else cp.signed_at,
    )


_HEAD_SQL = (
    "SELECT (SELECT seq FROM audit_entries ORDER BY seq DESC LIMIT 1),"
    " (SELECT chain_hash FROM audit_entries ORDER BY seq DESC LIMIT 1),"
    " (SELECT max(id) FROM audit_checkpoints)"
)


def _locked_head(session: Session) -> tuple[Connection, _Head]:
    """Take the write lock and return the current head (cached unless it moved)."""
    conn = session.connection()
    _take_write_lock(conn)
    engine = conn.engine
    # One round trip on the driver's own cursor (same connection and transaction): this
    # runs on every append, and statement handling would cost more than the query.
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(_HEAD_SQL)
        last_seq, last_chain, last_checkpoint = cursor.fetchone() or (None, None, None)
    finally:
        cursor.close()
    with _heads_lock:
        head = _heads.get(engine)
    if (
        head is not None
        and head.size == (0 if last_seq is None else last_seq + 1)
        and (last_chain is None or head.chain == bytes(last_chain))
        and head.checkpoint_id == (-1 if last_checkpoint is None else last_checkpoint)
    ):
        return conn, head
    head = _load_head(conn)
    with _heads_lock:
        _heads[engine] = head
    return conn, head


def forget_head(engine: Engine) -> None:
    """Drop the cached head of ``engine`` (tests that rewrite the log behind its back)."""
    with _heads_lock:
        _heads.pop(engine, None)


# -- appending -------------------------------------------------------------------------------


def append_many(
    session: Session,
    drafts: Sequence[EntryDraft],
    *,
    signer: Signer | None = None,
    now: dt.datetime | None = None,
) -> list[Appended]:
    """Append ``drafts`` in order, in the session's transaction; the caller commits.

    Raises :class:`InvalidAuditEntry` or :class:`audit.pii.PiiInAuditEntry` before
    anything is written if any draft is refused. With a ``signer`` whose interval has
    passed since the last checkpoint, a checkpoint over the new head is signed too.
    """
    rows = [_row(d) for d in drafts]
    if not rows:
        return []
    conn, head = _locked_head(session)
    moment = format_time(now or dt.datetime.now(dt.UTC))
    # Time never runs backwards in the log, even if clocks of two writers disagree.
    if moment < head.last_time:
        moment = head.last_time
    frontier = head.frontier.copy()
    chain = head.chain
    seq = head.size
    out = []
    for row in rows:
        row["seq"] = seq
        row["logged_at"] = moment
        leaf = merkle.leaf_hash(row_bytes(row))
        chain = chain_next(chain, leaf)
        row["leaf_hash"] = leaf
        row["chain_hash"] = chain
        row["nodes"] = b"".join(frontier.append(leaf))
        out.append(Appended(seq, moment, leaf, chain))
        seq += 1
    columns = _INSERT_COLUMNS
    values = [tuple(row[c] for c in columns) for row in rows]
    sql = _insert_sql(conn.dialect.paramstyle)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if len(values) == 1:
            cursor.execute(sql, values[0])  # one entry: no executemany set-up
        else:
            cursor.executemany(sql, values)
    finally:
        cursor.close()
    head.size, head.chain, head.last_time, head.frontier = seq, chain, moment, frontier
    if signer is not None and signer.interval_seconds > 0 and _checkpoint_due(head, signer):
        _write_checkpoint(conn, head, signer, moment)
    return out


def append(
    session: Session,
    *,
    action: str,
    actor_type: str,
    actor_id: str,
    decision: str = "allow",
    subject: str | None = None,
    purpose: str | None = None,
    resource: str | None = None,
    reasons: Sequence[str] = (),
    policy_hash: str | None = None,
    request_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    signer: Signer | None = None,
) -> Appended:
    """Append one entry (see :func:`append_many`)."""
    draft = EntryDraft(
        action=action,
        actor_type=actor_type,
        actor_id=actor_id,
        decision=decision,
        subject=subject,
        purpose=purpose,
        resource=resource,
        reasons=tuple(reasons),
        policy_hash=policy_hash,
        request_id=request_id,
        details=details or {},
    )
    return append_many(session, [draft], signer=signer)[0]


# -- checkpoints -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointInfo:
    """A checkpoint as stored."""

    id: int
    tree_size: int
    root_hash: bytes
    chain_hash: bytes
    signed_at: str
    key_id: str
    body: bytes
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        """JSON form, hashes and signature in base64."""
        return {
            "id": self.id,
            "tree_size": self.tree_size,
            "root_hash": checkpoint.b64(self.root_hash),
            "chain_hash": checkpoint.b64(self.chain_hash),
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "note": self.body.decode(),
            "signature": checkpoint.b64(self.signature),
        }


def _checkpoint_due(head: _Head, signer: Signer) -> bool:
    if head.size <= head.checkpoint_size and head.checkpoint_id >= 0:
        return False
    if head.checkpoint_time is None:
        return True
    if head.checkpoint_epoch is None:
        head.checkpoint_epoch = parse_time(head.checkpoint_time).timestamp()
    return time.time() - head.checkpoint_epoch >= signer.interval_seconds


def _write_checkpoint(conn: Connection, head: _Head, signer: Signer, moment: str) -> CheckpointInfo:
    tree_head = checkpoint.TreeHead(
        origin=signer.origin,
        size=head.size,
        root=head.frontier.root(),
        chain=head.chain,
        time=moment,
    )
    body, signature = checkpoint.sign(tree_head, signer.key)
    info = CheckpointInfo(
        id=head.checkpoint_id + 1,
        tree_size=head.size,
        root_hash=tree_head.root,
        chain_hash=head.chain,
        signed_at=moment,
        key_id=signer.key_id,
        body=body,
        signature=signature,
    )
    conn.execute(
        insert(CHECKPOINTS),
        [{name: getattr(info, name) for name in _CHECKPOINT_COLUMNS}],
    )
    head.checkpoint_id, head.checkpoint_size, head.checkpoint_time = info.id, head.size, moment
    head.checkpoint_epoch = None
    return info


_CHECKPOINT_COLUMNS = (
    "id",
    "tree_size",
    "root_hash",
    "chain_hash",
    "signed_at",
    "key_id",
    "body",
    "signature",
)


def create_checkpoint(session: Session, signer: Signer) -> tuple[CheckpointInfo, bool]:
    """Sign the current head; returns (checkpoint, created).

    When the log has not grown since the last checkpoint, that one is returned and
    nothing is written. The caller commits.
    """
    conn, head = _locked_head(session)
    if head.checkpoint_id >= 0 and head.checkpoint_size == head.size:
        latest = latest_checkpoint(session)
        assert latest is not None
        return latest, False
    moment = format_time(dt.datetime.now(dt.UTC))
    if moment < head.last_time:
        moment = head.last_time
    return _write_checkpoint(conn, head, signer, moment), True


def checkpoint_info(row: Any) -> CheckpointInfo:
    """A checkpoint from its stored row."""
    return CheckpointInfo(
        id=row.id,
        tree_size=row.tree_size,
        root_hash=bytes(row.root_hash),
        chain_hash=bytes(row.chain_hash),
        signed_at=row.signed_at,
        key_id=row.key_id,
        body=bytes(row.body),
        signature=bytes(row.signature),
    )


def latest_checkpoint(session: Session) -> CheckpointInfo | None:
    """The newest checkpoint, or None."""
    c = CHECKPOINTS
    row = session.execute(select(c).order_by(c.c.id.desc()).limit(1)).first()
    return None if row is None else checkpoint_info(row)


def all_checkpoints(conn: Connection | Session) -> list[CheckpointInfo]:
    """Every checkpoint, oldest first (verification)."""
    c = CHECKPOINTS
    return [checkpoint_info(row) for row in conn.execute(select(c).order_by(c.c.tree_size, c.c.id))]


# -- reading heads and proofs ---------------------------------------------------------------


def log_size(session: Session) -> int:
    """Number of entries in the log (committed, as this transaction sees it)."""
    t = ENTRIES
    last = session.execute(select(t.c.seq).order_by(t.c.seq.desc()).limit(1)).scalar()
    return 0 if last is None else int(last) + 1


def root_at(session: Session, size: int) -> bytes:
    """Root hash of the tree over the first ``size`` entries, from stored nodes."""
    if size == 0:
        return merkle.EMPTY_ROOT
    wanted = merkle.Frontier.nodes_for(size)
    nodes = fetch_nodes(session.connection(), wanted)
    return merkle.Frontier(size, [nodes[n] for n in wanted]).root()


def inclusion_proof(session: Session, index: int, size: int) -> list[bytes]:
    """Audit path of entry ``index`` in the tree of ``size`` (RFC 9162 order)."""
    ranges = merkle.inclusion_ranges(index, size)
    nodes = fetch_nodes(session.connection(), merkle.needed_nodes(ranges))
    return merkle.hash_ranges(ranges, nodes)


def consistency_proof(session: Session, old: int, new: int) -> list[bytes]:
    """Proof that the tree of size ``old`` is a prefix of the tree of size ``new``."""
    ranges = merkle.consistency_ranges(old, new)
    nodes = fetch_nodes(session.connection(), merkle.needed_nodes(ranges))
    return merkle.hash_ranges(ranges, nodes)


def entry_row(session: Session, seq: int) -> Mapping[str, Any] | None:
    """The stored columns of entry ``seq``."""
    t = ENTRIES
    row = session.execute(select(t).where(t.c.seq == seq)).mappings().first()
    return None if row is None else dict(row)


def entry_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """An entry as the API shows it: its fields, its canonical bytes and its hashes."""
    return {
        "seq": row["seq"],
        "time": row["logged_at"],
        "actor": {"type": row["actor_type"], "id": row["actor_id"]},
        "action": row["action"],
        "subject": row["subject_id"],
        "purpose": row["purpose"],
        "resource": row["resource"],
        "decision": row["decision"],
        "reasons": orjson.loads(row["reasons"]),
        "policy_hash": row["policy_hash"],
        "request_id": row["request_id"],
        "details": orjson.loads(row["details"]),
        "leaf_hash": checkpoint.b64(bytes(row["leaf_hash"])),
    }
