"""Verification names the first entry or checkpoint that does not match, and what.

Each tamper test does what an attacker with database access would: drop the append-only
triggers, then change, delete, reorder or truncate rows, or forge a checkpoint. The log
below has 20 entries and checkpoints over 8, 16 and 20 of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import text

import audit
from audit import checkpoint, merkle
from audit.log import GENESIS_CHAIN, CheckpointInfo, chain_next, row_bytes
from audit.verify import ROW_COLUMNS, Failure, LogVerifier, Start, VerificationFailed

SIZE = 20
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CHECKPOINT_SIZES = (8, 16, 20)


@pytest.fixture
def log(append_entries: Any, sign_checkpoint: Any) -> list[Any]:
    """20 entries with checkpoints 0, 1, 2 over 8, 16 and 20 of them; returns them."""
    out = []
    done = 0
    for size in CHECKPOINT_SIZES:
        out += append_entries(size - done, details=lambda i, d=done: {"n": d + i})
        sign_checkpoint()
        done = size
    return out


@pytest.fixture
def tamper(drop_guards: Any, raw_sql: Any, forget_cached_head: Any) -> Any:
    """Run statements after dropping the guards, as a tamperer with the owner's rights would."""

    def run(*statements: str, **params: Any) -> None:
        drop_guards()
        raw_sql(*statements, **params)
        forget_cached_head()

    return run


def _failure(report: Any) -> Failure:
    assert not report.ok
    assert report.failure is not None
    failure: Failure = report.failure
    return failure


# -- an untouched log ------------------------------------------------------------------------


def test_an_untouched_log_verifies(log: Any, verify_now: Any, db: Any) -> None:
    report = verify_now()
    assert report.ok, report.failure
    assert (report.entries_checked, report.first_entry, report.last_entry) == (SIZE, 0, SIZE - 1)
    assert report.checkpoints_checked == len(CHECKPOINT_SIZES)
    assert report.tree_size == SIZE
    assert report.root_hash == checkpoint.b64(merkle.root_of_leaves([e.leaf_hash for e in log]))


def test_an_empty_log_verifies(verify_now: Any) -> None:
    report = verify_now()
    assert report.ok and report.entries_checked == 0 and report.tree_size == 0


# -- the acceptance's tampering --------------------------------------------------------------


def test_a_changed_row_is_named_as_a_leaf_mismatch(log: Any, tamper: Any, verify_now: Any) -> None:
    tamper("UPDATE audit_entries SET decision = 'deny' WHERE seq = 5")
    failure = _failure(verify_now())
    assert (failure.check, failure.entry) == ("leaf", 5)
    assert "entry 5" in failure.message


def test_a_changed_row_with_its_leaf_hash_recomputed_breaks_the_chain(
    log: Any, tamper: Any, entry_rows: Any, verify_now: Any
) -> None:
    row = entry_rows()[5]
    row["details"] = '{"n":500}'
    tamper(
        "UPDATE audit_entries SET details = :d, leaf_hash = :leaf WHERE seq = 5",
        d=row["details"],
        leaf=merkle.leaf_hash(row_bytes(row)),
    )
    failure = _failure(verify_now())
    assert (failure.check, failure.entry) == ("chain", 5)


def test_a_rewritten_log_with_every_hash_recomputed_fails_at_the_next_checkpoint(
    log: Any,
    drop_guards: Any,
    engine: Any,
    forget_cached_head: Any,
    entry_rows: Any,
    verify_now: Any,
) -> None:
    """An attacker without the signing key recomputes leaf, chain and tree after entry 5."""
    rows = entry_rows()
    rows[5]["details"] = '{"n":500}'
    chain, frontier = GENESIS_CHAIN, merkle.Frontier()
    updates = []
    for row in rows:
        leaf = merkle.leaf_hash(row_bytes(row))
        chain = chain_next(chain, leaf)
        nodes = b"".join(frontier.append(leaf))
        if row["seq"] >= 5:
            updates.append((row["seq"], row["details"], leaf, chain, nodes))
    drop_guards()
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE audit_entries SET details = :d, leaf_hash = :l, chain_hash = :c, "
                "nodes = :n WHERE seq = :seq"
            ),
            [{"seq": u[0], "d": u[1], "l": u[2], "c": u[3], "n": u[4]} for u in updates],
        )
    forget_cached_head()
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint, failure.entry) == ("checkpoint-root", 0, 7)


def test_a_deleted_row_is_named_as_missing(log: Any, tamper: Any, verify_now: Any) -> None:
    tamper("DELETE FROM audit_entries WHERE seq = 11")
    failure = _failure(verify_now())
    assert (failure.check, failure.entry) == ("missing", 11)
    assert "entry 11 is missing" in failure.message


def test_two_reordered_rows_are_named_at_the_first(log: Any, tamper: Any, verify_now: Any) -> None:
    tamper(
        "UPDATE audit_entries SET seq = 1000003 WHERE seq = 3",
        "UPDATE audit_entries SET seq = 3 WHERE seq = 7",
        "UPDATE audit_entries SET seq = 7 WHERE seq = 1000003",
    )
    failure = _failure(verify_now())
    assert (failure.check, failure.entry) == ("leaf", 3)


def test_a_forged_checkpoint_signature_is_named(
    log: Any, tamper: Any, stored_checkpoints: Any, verify_now: Any
) -> None:
    signature = bytearray(stored_checkpoints()[1].signature)
    signature[10] ^= 0x01
    tamper("UPDATE audit_checkpoints SET signature = :s WHERE id = 1", s=bytes(signature))
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint) == ("checkpoint-signature", 1)
    assert "checkpoint 1 (tree size 16)" in failure.message


def test_a_checkpoint_signed_by_another_key_is_named(
    log: Any, tamper: Any, stored_checkpoints: Any, verify_now: Any
) -> None:
    forger = Ed25519PrivateKey.generate()
    original = checkpoint.decode(stored_checkpoints()[2].body)
    body, signature = checkpoint.sign(original, forger)
    tamper(
        "UPDATE audit_checkpoints SET signature = :s, key_id = :k WHERE id = 2",
        s=signature,
        k=checkpoint.key_id(forger.public_key()),
    )
    assert body == stored_checkpoints()[2].body
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint) == ("checkpoint-signature", 2)
    assert "not a known audit key" in failure.message


def test_a_truncated_log_is_named_from_the_checkpoint_that_covered_it(
    log: Any, tamper: Any, verify_now: Any
) -> None:
    tamper("DELETE FROM audit_entries WHERE seq >= 12")
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint, failure.entry) == ("truncated", 1, 12)
    assert "entries 12..15 are gone" in failure.message


def test_removing_the_last_entries_is_caught_by_the_last_checkpoint(
    log: Any, tamper: Any, verify_now: Any
) -> None:
    tamper("DELETE FROM audit_entries WHERE seq >= 18")
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint, failure.entry) == ("truncated", 2, 18)


# -- other checkpoint faults -----------------------------------------------------------------


def test_checkpoint_columns_that_disagree_with_the_signed_note_are_named(
    log: Any, tamper: Any, verify_now: Any
) -> None:
    tamper("UPDATE audit_checkpoints SET signed_at = '2030-01-01T00:00:00.000000Z' WHERE id = 0")
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint) == ("checkpoint-format", 0)


def test_a_checkpoint_of_another_log_is_named(
    app: Flask, log: Any, tamper: Any, stored_checkpoints: Any, verify_now: Any
) -> None:
    with app.app_context():
        key = audit.get_signer().key
    head = checkpoint.decode(stored_checkpoints()[0].body)
    body, signature = checkpoint.sign(
        checkpoint.TreeHead("other.example.com/audit", head.size, head.root, head.chain, head.time),
        key,
    )
    tamper(
        "UPDATE audit_checkpoints SET body = :b, signature = :s WHERE id = 0", b=body, s=signature
    )
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint) == ("checkpoint-format", 0)
    assert "origin" in failure.message


def test_a_validly_signed_head_with_a_wrong_chain_is_named(
    app: Flask, log: Any, tamper: Any, stored_checkpoints: Any, verify_now: Any
) -> None:
    with app.app_context():
        key = audit.get_signer().key
    head = checkpoint.decode(stored_checkpoints()[1].body)
    forged = checkpoint.TreeHead(head.origin, head.size, head.root, bytes(32), head.time)
    body, signature = checkpoint.sign(forged, key)
    tamper(
        "UPDATE audit_checkpoints SET body = :b, signature = :s, chain_hash = :c WHERE id = 1",
        b=body,
        s=signature,
        c=bytes(32),
    )
    failure = _failure(verify_now())
    assert (failure.check, failure.checkpoint, failure.entry) == ("checkpoint-chain", 1, 15)


def _rows(count: int) -> list[tuple[Any, ...]]:
    """Stored rows of a fictional log of ``count`` entries, hashed as the appender does."""
    chain, frontier, out = GENESIS_CHAIN, merkle.Frontier(), []
    for seq in range(count):
        row: dict[str, Any] = {
            "seq": seq,
            "logged_at": "2026-11-25T10:00:00.000000Z",
            "actor_type": "system",
            "actor_id": "tests",
            "action": "test.event",
            "subject_id": None,
            "purpose": None,
            "resource": None,
            "decision": "allow",
            "reasons": "[]",
            "policy_hash": None,
            "request_id": None,
            "details": f'{{"n":{seq}}}',
        }
        leaf = merkle.leaf_hash(row_bytes(row))
        chain = chain_next(chain, leaf)
        row |= {"leaf_hash": leaf, "chain_hash": chain, "nodes": b"".join(frontier.append(leaf))}
        out.append(tuple(row[c] for c in ROW_COLUMNS))
    return out


def _signed(key: Ed25519PrivateKey, cp_id: int, size: int, root: bytes, chain: bytes) -> Any:
    head = checkpoint.TreeHead("log.example.com/audit", size, root, chain, "2026-11-25T10:00Z")
    body, signature = checkpoint.sign(head, key)
    return CheckpointInfo(
        cp_id, size, root, chain, head.time, checkpoint.key_id(key.public_key()), body, signature
    )


def test_the_pure_verifier_checks_rows_and_heads_without_a_database() -> None:
    key = Ed25519PrivateKey.generate()
    keys = {checkpoint.key_id(key.public_key()): key.public_key()}
    rows = _rows(6)
    leaves = [row[ROW_COLUMNS.index("leaf_hash")] for row in rows]
    chain = rows[-1][ROW_COLUMNS.index("chain_hash")]
    head = _signed(key, 0, 6, merkle.root_of_leaves(leaves), chain)
    verifier = LogVerifier(keys, [head], origin="log.example.com/audit")
    verifier.feed(rows)
    verifier.finish()
    assert verifier.checkpoints_checked == 1 and verifier.expected == 6


def test_a_checkpoint_inconsistent_with_the_one_before_is_named() -> None:
    """Starting from a trusted state, a later head must extend the starting head."""
    key = Ed25519PrivateKey.generate()
    keys = {checkpoint.key_id(key.public_key()): key.public_key()}
    rows = _rows(6)
    leaves = [row[ROW_COLUMNS.index("leaf_hash")] for row in rows]
    chains = [row[ROW_COLUMNS.index("chain_hash")] for row in rows]
    forked_root = merkle.root_of_leaves([merkle.leaf_hash(b"replaced %d" % i) for i in range(4)])
    old = _signed(key, 0, 4, forked_root, chains[3])  # a head of a tree that was replaced
    new = _signed(key, 1, 6, merkle.root_of_leaves(leaves), chains[5])
    frontier = merkle.Frontier()
    for leaf in leaves[:4]:
        frontier.append(leaf)
    start = Start(size=4, chain=chains[3], frontier_hashes=frontier.hashes(), checkpoint_id=0)
    verifier = LogVerifier(keys, [old, new], start=start)
    verifier.check_start_checkpoints()  # the signature is good: only the tree is not
    with pytest.raises(VerificationFailed) as failed:
        verifier.feed(rows[4:])
    assert (failed.value.failure.check, failed.value.failure.checkpoint) == (
        "checkpoint-consistency",
        1,
    )
    assert "not consistent with checkpoint 0 (tree size 4)" in failed.value.failure.message


# -- --since-checkpoint ----------------------------------------------------------------------


def test_since_checkpoint_verifies_only_what_is_new(
    log: Any, append_entries: Any, verify_now: Any
) -> None:
    append_entries(5)
    report = verify_now(since_checkpoint=True)
    assert report.ok, report.failure
    assert (report.since_checkpoint, report.first_entry, report.last_entry) == (2, 20, 24)
    assert report.entries_checked == 5 and report.tree_size == 25


def test_since_checkpoint_catches_tampering_after_the_checkpoint(
    log: Any, append_entries: Any, tamper: Any, verify_now: Any
) -> None:
    append_entries(5)
    tamper("UPDATE audit_entries SET action = 'test.other' WHERE seq = 22")
    failure = _failure(verify_now(since_checkpoint=True))
    assert (failure.check, failure.entry) == ("leaf", 22)


def test_since_checkpoint_checks_the_stored_tree_against_the_signed_root(
    log: Any, append_entries: Any, tamper: Any, verify_now: Any
) -> None:
    append_entries(5)
    # Row 15 stores the root of the first 16 leaves: the frontier the check starts from.
    tamper("UPDATE audit_entries SET nodes = :n WHERE seq = 15", n=bytes(32 * 4))
    failure = _failure(verify_now(since_checkpoint=True))
    assert (failure.check, failure.checkpoint) == ("checkpoint-root", 2)


def test_since_checkpoint_checks_the_starting_signature(
    log: Any, tamper: Any, stored_checkpoints: Any, verify_now: Any
) -> None:
    signature = bytearray(stored_checkpoints()[2].signature)
    signature[0] ^= 0x80
    tamper("UPDATE audit_checkpoints SET signature = :s WHERE id = 2", s=bytes(signature))
    failure = _failure(verify_now(since_checkpoint=True))
    assert (failure.check, failure.checkpoint) == ("checkpoint-signature", 2)


# -- the command -----------------------------------------------------------------------------


def test_verify_command_reports_success_and_records_the_run(
    log: Any, audit_cli: Any, entry_rows: Any
) -> None:
    result = audit_cli("verify")
    assert result.exit_code == 0, result.output
    assert "audit log verified: entries 0..19 (20 entries, 3 checkpoints)" in result.output
    last = entry_rows()[-1]
    assert (last["action"], last["decision"], last["seq"]) == ("audit.verify", "allow", 20)
    assert json.loads(last["details"])["entries_checked"] == SIZE


def test_verify_command_exits_non_zero_naming_the_entry(
    log: Any, tamper: Any, audit_cli: Any, entry_rows: Any
) -> None:
    tamper("UPDATE audit_entries SET resource = 'profile' WHERE seq = 9")
    result = audit_cli("verify")
    assert result.exit_code == 1
    assert "verification FAILED (leaf): entry 9:" in result.output
    last = entry_rows()[-1]
    assert (last["action"], last["decision"]) == ("audit.verify", "error")
    assert json.loads(last["reasons"]) == ["failed:leaf"]
    assert json.loads(last["details"])["first_bad_entry"] == 9


def test_verify_command_json(log: Any, tamper: Any, audit_cli: Any) -> None:
    tamper("DELETE FROM audit_entries WHERE seq = 4")
    result = audit_cli("verify", "--json", "--no-record")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    assert report["failure"]["check"] == "missing"
    assert report["failure"]["entry"] == 4
    assert report["entries_checked"] == 4


def test_verify_command_no_record_writes_nothing(log: Any, audit_cli: Any, all_rows: Any) -> None:
    before = all_rows()
    result = audit_cli("verify", "--no-record", "--json")
    assert result.exit_code == 0 and json.loads(result.output)["ok"] is True
    assert all_rows() == before


def test_verify_command_with_the_published_key(
    app: Flask, log: Any, audit_cli: Any, tmp_path: Path
) -> None:
    published = app.test_client().get("/.well-known/governance-audit-key.json").get_json()
    saved = tmp_path / "audit-key.pem"
    saved.write_text(published["keys"][0]["pem"])
    ok = audit_cli("verify", "--public-key", str(saved), "--no-record")
    assert ok.exit_code == 0, ok.output
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    refused = audit_cli("verify", "--public-key", str(other), "--no-record", "--json")
    assert refused.exit_code == 1
    assert json.loads(refused.output)["failure"]["check"] == "checkpoint-signature"


def test_verify_command_since_checkpoint(log: Any, append_entries: Any, audit_cli: Any) -> None:
    append_entries(3)
    result = audit_cli("verify", "--since-checkpoint", "--no-record")
    assert result.exit_code == 0, result.output
    assert "entries 20..22 after checkpoint 2 (3 entries" in result.output


def test_checkpoint_and_head_commands(append_entries: Any, audit_cli: Any, db: Any) -> None:
    from audit.log import root_at

    append_entries(4)
    signed = audit_cli("checkpoint")
    assert signed.exit_code == 0
    assert signed.output.startswith("checkpoint 0 signed: tree size 4, root ")
    again = audit_cli("checkpoint")
    assert again.output.startswith("checkpoint 0 unchanged since: tree size 4")
    head = audit_cli("head")
    assert head.output.strip() == f"tree size 4, root {checkpoint.b64(root_at(db, 4))}"


def test_verify_reports_progress_over_every_row(log: Any, app: Flask, engine: Any) -> None:
    from audit.verify import verify_database

    seen: list[int] = []
    totals: list[int] = []
    with app.app_context():
        keys = audit.public_keys()
    report = verify_database(engine, keys, progress=seen.append, total=totals.append)
    assert report.ok
    assert totals == [SIZE] and sum(seen) == SIZE


VERIFY_ON_A_TERMINAL = r"""
import json, sys
from governance import create_app
from audit.cli import verify_command

app = create_app(json.loads(sys.argv[1]))
with app.app_context():
    verify_command.main(args=sys.argv[2:], prog_name="governance audit verify")
"""


def _run_on_a_terminal(config: dict[str, Any], *args: str) -> tuple[int, str]:
    """Run ``audit verify ARGS`` with a pseudo-terminal as its output; (exit code, output)."""
    import os
    import pty
    import subprocess
    import sys

    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "TERM": "xterm", "COLUMNS": "100"}
    env.pop("GOVERNANCE_TEST_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", VERIFY_ON_A_TERMINAL, json.dumps(config), *args],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=secondary,
        stderr=secondary,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the child is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    return proc.wait(timeout=120), b"".join(chunks).decode("utf-8", "replace")


def test_verify_shows_a_progress_bar_on_a_terminal_only(
    log: Any, child_config: dict[str, Any], audit_cli: Any
) -> None:
    code, shown = _run_on_a_terminal(child_config, "--no-record")
    assert code == 0, shown
    assert "verifying" in shown and "━" in shown  # the bar, drawn on the terminal
    assert "audit log verified: entries 0..19" in shown
    piped = audit_cli("verify", "--no-record")  # not a terminal: no bar
    assert piped.exit_code == 0
    assert "verifying" not in piped.output and "━" not in piped.output
