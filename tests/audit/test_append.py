"""Appending: numbering, hashing, atomicity, validation, the PII refusal, checkpoints."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

import audit
from audit import canonical, checkpoint, merkle, pii
from audit.log import (
    GENESIS_CHAIN,
    MAX_DETAILS_BYTES,
    EntryDraft,
    InvalidAuditEntry,
    Signer,
    append,
    append_many,
    chain_next,
    create_checkpoint,
    inclusion_proof,
    root_at,
    row_bytes,
)
from audit.pii import PiiInAuditEntry
from governance.auth.permissions import public
from governance.db import get_session

SUBJECT = "sub_Fict1onalSubject000001"
EMAIL = "li.wei@example.com"
MOBILE = "13912345678"  # a fictional number in the mainland mobile format


def _draft(**fields: Any) -> EntryDraft:
    base: dict[str, Any] = {"action": "test.event", "actor_type": "system", "actor_id": "tests"}
    return EntryDraft(**{**base, **fields})


# -- numbering and hashing --------------------------------------------------------------------


def test_entries_are_numbered_from_zero_without_gaps(append_entries: Any, entry_rows: Any) -> None:
    landed = append_entries(7)
    assert [a.seq for a in landed] == list(range(7))
    assert [row["seq"] for row in entry_rows()] == list(range(7))


def test_each_row_hashes_to_its_leaf_chain_and_tree(
    append_entries: Any, entry_rows: Any, db: Any
) -> None:
    append_entries(13, subject=SUBJECT, purpose="marketing_push", reasons=["consent:granted"])
    rows = entry_rows()
    leaves = [merkle.leaf_hash(row_bytes(row)) for row in rows]
    chain = GENESIS_CHAIN
    frontier = merkle.Frontier()
    for row, leaf in zip(rows, leaves, strict=True):
        assert bytes(row["leaf_hash"]) == leaf
        chain = chain_next(chain, leaf)
        assert bytes(row["chain_hash"]) == chain
        assert bytes(row["nodes"]) == b"".join(frontier.append(leaf))
    for size in range(14):
        assert root_at(db, size) == merkle.root_of_leaves(leaves[:size])


def test_the_canonical_bytes_hold_every_field(append_entries: Any, entry_rows: Any) -> None:
    append_entries(
        1,
        action="profile.read",
        actor_type="service",
        actor_id="key_3f9a",
        decision="deny",
        subject=SUBJECT,
        purpose="marketing_push",
        resource="profile",
        reasons=["consent:withdrawn"],
        policy_hash="ab" * 32,
        request_id="req-0001",
        details={"fields": ["mobile"], "count": 1},
    )
    body = canonical.orjson.loads(row_bytes(entry_rows()[0]))
    assert body == {
        "v": 1,
        "seq": 0,
        "time": body["time"],
        "actor": {"type": "service", "id": "key_3f9a"},
        "action": "profile.read",
        "subject": SUBJECT,
        "purpose": "marketing_push",
        "resource": "profile",
        "decision": "deny",
        "reasons": ["consent:withdrawn"],
        "policy": "ab" * 32,
        "request_id": "req-0001",
        "details": {"count": 1, "fields": ["mobile"]},
    }


def test_time_never_runs_backwards_along_the_log(db: Any, entry_rows: Any) -> None:
    later = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
    append_many(db, [_draft()], now=later)
    append_many(db, [_draft()], now=later - dt.timedelta(minutes=5))  # a writer's slow clock
    db.commit()
    times = [row["logged_at"] for row in entry_rows()]
    assert times == ["2026-11-25T10:00:00.000000Z"] * 2


def test_an_inclusion_proof_from_the_database_verifies(append_entries: Any, db: Any) -> None:
    landed = append_entries(37)
    root = root_at(db, 37)
    for entry in landed:
        proof = inclusion_proof(db, entry.seq, 37)
        assert merkle.verify_inclusion(entry.seq, 37, entry.leaf_hash, proof, root)
        assert not merkle.verify_inclusion(entry.seq, 37, landed[0].chain_hash, proof, root)


# -- atomic with its transaction --------------------------------------------------------------


def test_a_rolled_back_append_leaves_no_trace_and_the_next_takes_its_place(
    db: Any, entry_rows: Any, verify_now: Any
) -> None:
    append(db, action="test.kept", actor_type="system", actor_id="tests")
    db.commit()
    append(db, action="test.undone", actor_type="system", actor_id="tests")
    db.rollback()
    again = append(db, action="test.kept", actor_type="system", actor_id="tests")
    db.commit()
    assert again.seq == 1
    assert [row["action"] for row in entry_rows()] == ["test.kept", "test.kept"]
    assert verify_now().ok


def test_a_batch_with_one_bad_entry_writes_nothing(db: Any, all_rows: Any) -> None:
    drafts = [_draft(), _draft(), _draft(details={"note": f"call {MOBILE}"})]
    with pytest.raises(PiiInAuditEntry):
        append_many(db, drafts)
    db.commit()
    assert all_rows() == (0, 0)


def test_an_entry_commits_with_what_it_records(app: Flask, db: Any, all_rows: Any) -> None:
    """A change and its entry share one transaction: both or neither."""
    db.execute(text("CREATE TABLE IF NOT EXISTS side_effect (n INTEGER)"))
    db.commit()
    db.execute(text("INSERT INTO side_effect VALUES (1)"))
    append(db, action="test.change", actor_type="system", actor_id="tests")
    db.rollback()
    assert db.execute(text("SELECT count(*) FROM side_effect")).scalar_one() == 0
    assert all_rows() == (0, 0)


def test_two_apps_on_one_database_keep_one_chain(
    make_app: Any, append_entries: Any, verify_now: Any, entry_rows: Any
) -> None:
    other = make_app()
    for _ in range(5):
        append_entries(2)
        append_entries(3, target=other)  # its own engine and cached head
    assert [row["seq"] for row in entry_rows()] == list(range(25))
    report = verify_now()
    assert report.ok, report.failure


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "complaint"),
    [
        ({"action": "Profile Read"}, "action"),
        ({"decision": "maybe"}, "decision"),
        ({"actor_type": "robot"}, "actor type"),
        ({"actor_id": "op 7"}, "actor id"),
        ({"actor_type": "subject", "actor_id": "customer-7"}, "subject actor"),
        ({"subject": MOBILE}, "subject must be an opaque subject id"),
        ({"subject": f"sub_{MOBILE}"}, "subject must be an opaque subject id"),
        ({"purpose": "Marketing Push"}, "purpose"),
        ({"resource": "x" * 129}, "resource"),
        ({"reasons": "consent:withdrawn"}, "reasons"),
        ({"reasons": ["has a space"]}, "reasons"),
        ({"policy_hash": "AB" * 32}, "policy hash"),
        ({"request_id": "r" * 65}, "request id"),
        ({"details": ["not", "an", "object"]}, "details must be an object"),
        ({"details": {"amount": 12.5}}, "details.amount: floats"),
        ({"details": {"big": 2**60}}, "details.big: integer outside"),
        ({"details": {"when": dt.date(2026, 1, 1)}}, "details.when: date is not a JSON value"),
        ({"details": {"blob": "x" * (MAX_DETAILS_BYTES + 1)}}, "details exceed"),
    ],
)
def test_a_malformed_entry_is_refused_and_nothing_is_written(
    db: Any, all_rows: Any, fields: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(InvalidAuditEntry) as refused:
        append_many(db, [_draft(**fields)])
    db.commit()
    assert complaint in str(refused.value)
    assert all_rows() == (0, 0)


# -- no PII in the log -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "where", "kind"),
    [
        ({"details": {"note": f"contact {EMAIL}"}}, "details.note", "EMAIL_ADDRESS"),
        ({"details": {"note": f"客户手机{MOBILE}已核实"}}, "details.note", "CN_MOBILE"),
        ({"details": {"note": "+86 139 1234 5678"}}, "details.note", "CN_MOBILE"),
        ({"details": {"note": f"tel:{MOBILE}"}}, "details.note", "CN_MOBILE"),
        ({"details": {"note": f"手机号码:{MOBILE}。"}}, "details.note", "CN_MOBILE"),
        ({"details": {"to": [{"addr": EMAIL}]}}, "details.to[0].addr", "EMAIL_ADDRESS"),
        ({"details": {MOBILE: "looked up"}}, "details key", "CN_MOBILE"),
        ({"details": {"id": "11010519491231002X"}}, "details.id", "CN_RESIDENT_ID"),
        ({"resource": f"profile:{EMAIL}"}, "resource", "EMAIL_ADDRESS"),
        ({"reasons": [f"lookup:{MOBILE}"]}, "reasons[0]", "CN_MOBILE"),
    ],
)
def test_an_entry_carrying_pii_is_refused_without_repeating_it(
    db: Any, db_snapshot: Any, fields: dict[str, Any], where: str, kind: str
) -> None:
    append_many(db, [_draft()])
    db.commit()
    before = db_snapshot()
    with pytest.raises(PiiInAuditEntry) as refused:
        append_many(db, [_draft(**fields)])
    db.commit()
    message = str(refused.value)
    assert f"{where}: {kind} at " in message
    assert EMAIL not in message and MOBILE not in message and "1949" not in message
    assert db_snapshot() == before


@pytest.mark.parametrize(
    "value",
    [
        "order 2026112512345678 shipped",  # a long number is not a phone
        "11010519491231002Y",  # resident ID look-alike with a wrong check digit
        "12912345678",  # 12x is no mainland mobile prefix
        "svc@internal",  # no domain
        "5f13912345678a0c",  # digits inside a hex token (a request id, a digest)
        "13912345678aa0c3e9f0b1d2c3e4f5a6",  # ... also at its start
        "key_13912345678",  # or after an underscore in an opaque id
    ],
)
def test_look_alikes_of_pii_are_accepted(db: Any, value: str, entry_rows: Any) -> None:
    append_many(db, [_draft(details={"note": value})])
    db.commit()
    assert len(entry_rows()) == 1


def test_the_pii_detector_is_a_hook(app: Flask, db: Any, all_rows: Any) -> None:
    def detect_codenames(text: str) -> list[pii.PiiFinding]:
        at = text.find("Project Magpie")
        return [] if at < 0 else [pii.PiiFinding("CODENAME", at, at + 14)]

    pii.set_detector(app, detect_codenames)
    with pytest.raises(PiiInAuditEntry, match=r"details\.note: CODENAME at 4-18"):
        append_many(db, [_draft(details={"note": "see Project Magpie"})])
    append_many(db, [_draft(details={"note": f"written to {EMAIL}"})])  # the hook decides
    db.commit()
    assert all_rows() == (1, 0)


def test_pii_in_an_entry_made_by_a_request_answers_422_and_writes_nothing(
    app: Flask, as_dpo: Any, db_snapshot: Any
) -> None:
    @app.post("/test-only/audited")
    @public
    def audited() -> str:
        session = get_session()
        session.execute(text("CREATE TABLE IF NOT EXISTS side_effect (n INTEGER)"))
        session.execute(text("INSERT INTO side_effect VALUES (1)"))
        audit.record(session, action="test.note", details={"note": f"mail {EMAIL}"})
        session.commit()
        return "written"

    before = db_snapshot()
    resp = as_dpo.post("/test-only/audited")
    assert resp.status_code == 422
    problem = resp.get_json()
    assert problem["type"] == "/problems/audit-entry-refused"
    assert "details.note: EMAIL_ADDRESS" in problem["detail"]
    assert EMAIL not in resp.get_data(as_text=True)
    assert db_snapshot() == before


# -- record() in a request -------------------------------------------------------------------


def test_record_names_the_request_actor_and_request_id(
    app: Flask, as_dpo: Any, entry_rows: Any
) -> None:
    @app.post("/test-only/recorded")
    @public
    def recorded() -> str:
        session = get_session()
        audit.record(session, action="test.recorded", resource="console")
        session.commit()
        return "ok"

    resp = as_dpo.post("/test-only/recorded", headers={"X-Request-ID": "req-abc-123"})
    assert resp.status_code == 200
    (row,) = [r for r in entry_rows() if r["action"] == "test.recorded"]
    assert row["actor_type"] == "operator" and row["actor_id"].isdigit()
    assert row["request_id"] == resp.headers["X-Request-ID"] == "req-abc-123"


def test_record_outside_a_request_is_the_cli_system_actor(app: Flask, entry_rows: Any) -> None:
    with app.app_context():
        session = get_session()
        audit.record(session, action="test.command")
        session.commit()
    (row,) = entry_rows()
    assert (row["actor_type"], row["actor_id"], row["request_id"]) == ("system", "cli", None)


# -- checkpoints -----------------------------------------------------------------------------


def test_a_checkpoint_signs_the_current_head(
    app: Flask, append_entries: Any, sign_checkpoint: Any, db: Any
) -> None:
    append_entries(5)
    info = sign_checkpoint()
    head = checkpoint.decode(info.body)
    assert (head.size, head.root) == (5, root_at(db, 5))
    assert head.origin == "portal.example.com/audit"
    with app.app_context():
        key = audit.public_keys()[info.key_id]
    assert checkpoint.signature_valid(info.body, info.signature, key)


def test_no_new_checkpoint_when_the_log_has_not_grown(
    app: Flask, append_entries: Any, sign_checkpoint: Any, all_rows: Any
) -> None:
    append_entries(3)
    first = sign_checkpoint()
    second = sign_checkpoint()
    assert second == first
    assert all_rows() == (3, 1)


def test_a_checkpoint_over_an_empty_log_signs_the_empty_root(
    sign_checkpoint: Any, all_rows: Any
) -> None:
    info = sign_checkpoint()
    assert (info.tree_size, info.root_hash) == (0, merkle.EMPTY_ROOT)
    assert all_rows() == (0, 1)


def test_appends_sign_a_checkpoint_once_the_interval_has_passed(
    app: Flask, db: Any, monkeypatch: pytest.MonkeyPatch, stored_checkpoints: Any
) -> None:
    signer = Signer(key=audit.get_signer(app).key, origin="portal.example.com/audit")
    periodic = Signer(key=signer.key, origin=signer.origin, interval_seconds=60)
    append_many(db, [_draft()], signer=periodic)  # no checkpoint yet: the first is due
    append_many(db, [_draft()], signer=periodic)  # within the interval: none
    db.commit()
    assert [cp.tree_size for cp in stored_checkpoints()] == [1]
    clock = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: clock)
    append_many(db, [_draft(), _draft()], signer=periodic)
    db.commit()
    assert [cp.tree_size for cp in stored_checkpoints()] == [1, 4]
    append_many(db, [_draft()], signer=signer)  # interval 0: only on demand
    db.commit()
    assert [cp.tree_size for cp in stored_checkpoints()] == [1, 4]


def test_a_periodic_checkpoint_rolls_back_with_its_entries(
    app: Flask, db: Any, all_rows: Any
) -> None:
    periodic = Signer(
        key=audit.get_signer(app).key, origin="x.example.com/audit", interval_seconds=1
    )
    append_many(db, [_draft()], signer=periodic)
    db.rollback()
    assert all_rows() == (0, 0)
    info, created = create_checkpoint(db, periodic)
    db.commit()
    assert created and (info.id, info.tree_size) == (0, 0)


def test_record_signs_per_the_configured_interval(
    make_app: Any, entry_rows: Any, stored_checkpoints: Any
) -> None:
    periodic = make_app(AUDIT_CHECKPOINT_INTERVAL_SECONDS=3600)
    with periodic.app_context():
        session = get_session()
        for _ in range(3):
            audit.record(session, action="test.event")
            session.commit()
    assert [cp.tree_size for cp in stored_checkpoints()] == [1]
    assert len(entry_rows()) == 3


# -- the hooks -------------------------------------------------------------------------------


def test_failed_and_successful_sign_ins_are_entries_without_the_username(
    app: Flask, make_operator: Any, entry_rows: Any
) -> None:
    import re

    op_id = make_operator("dpo", username="mei.dpo")
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match
    for username in ("mei.dpo", "nobody.here"):
        resp = client.post(
            "/console/login",
            data={"username": username, "password": "wrong", "csrf_token": match.group(1)},
        )
        assert resp.status_code == 401
    rows = [r for r in entry_rows() if r["action"] == "auth.login"]
    assert [(r["actor_type"], r["actor_id"], r["decision"]) for r in rows] == [
        ("operator", str(op_id), "deny"),
        ("anonymous", "anonymous", "deny"),
    ]
    assert [canonical.orjson.loads(r["reasons"]) for r in rows] == [
        ["wrong-password"],
        ["unknown-or-disabled"],
    ]
    everything = repr(entry_rows())
    assert "mei.dpo" not in everything and "nobody.here" not in everything


def test_loading_the_catalog_is_an_entry(catalog: Any, entry_rows: Any) -> None:
    (row,) = [r for r in entry_rows() if r["action"] == "catalog.load"]
    details = canonical.orjson.loads(row["details"])
    assert row["resource"] == f"catalog:{catalog.version}"
    assert details["sha256"] == catalog.sha256
