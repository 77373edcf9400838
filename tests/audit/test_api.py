"""The audit API: who reads what, filters, keyset pages, exports, proofs, the public key.

Proofs are checked the way a customer or the DPO checks them, offline, following the
recipe in docs/audit.md: the leaf is recomputed from the entry's canonical bytes, the root
comes from the signed checkpoint note, and the signature is checked with the key published
at ``/.well-known/governance-audit-key.json``. Subjects, services and operators are
invented; entries are appended one hour apart from 2026-11-25T08:00:00Z.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.security import generate_password_hash

import audit
from audit import checkpoint, merkle, query
from audit.log import EntryDraft, append_many, log_size
from governance.auth import services
from governance.db import get_session

START = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)
ALICE = "sub_AliceFictional00000001"
BOB = "sub_BobFictional0000000002"
CAROL = "sub_CarolFictional00000003"
PROBLEM = "application/problem+json"
ENTRIES = "/api/v1/audit/entries"
KEY_URL = "/.well-known/governance-audit-key.json"

_SERVICE_1: dict[str, Any] = {"actor_type": "service", "actor_id": "key_fict01"}

#: The log most tests read: seq -> what happened, at 08:00 + seq hours (UTC).
STORY = (
    # 0, 08:00
    EntryDraft(action="profile.read", subject=ALICE, purpose="marketing_push", **_SERVICE_1),
    # 1, 09:00
    EntryDraft(
        action="consent.withdraw",
        actor_type="subject",
        actor_id=ALICE,
        subject=ALICE,
        purpose="marketing_push",
    ),
    # 2, 10:00
    EntryDraft(
        action="profile.read",
        subject=BOB,
        purpose="marketing_push",
        decision="deny",
        reasons=("consent:withdrawn",),
        **_SERVICE_1,
    ),
    # 3, 11:00
    EntryDraft(
        action="profile.read",
        actor_type="service",
        actor_id="key_fict02",
        subject=BOB,
        purpose="analytics",
    ),
    # 4, 12:00
    EntryDraft(action="auth.login", actor_type="operator", actor_id="7", resource="console"),
    # 5, 13:00
    EntryDraft(action="catalog.load", actor_type="system", actor_id="cli"),
    # 6, 14:00
    EntryDraft(
        action="profile.read",
        subject=ALICE,
        purpose="analytics",
        decision="error",
        details={"fields": ["mobile"], "count": 1},
        **_SERVICE_1,
    ),
    # 7, 15:00
    EntryDraft(
        action="consent.grant", actor_type="subject", actor_id=BOB, subject=BOB, purpose="analytics"
    ),
)


def _filler(n: int) -> list[EntryDraft]:
    return [
        EntryDraft(action="test.event", actor_type="system", actor_id="tests", details={"n": i})
        for i in range(n)
    ]


# -- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quick_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Operators here never type a password: skip scrypt's deliberate cost per operator."""
    monkeypatch.setattr(
        services,
        "generate_password_hash",
        lambda password, method="": generate_password_hash(password, method="pbkdf2:sha256:1"),
    )


@pytest.fixture
def append(app: Flask) -> Callable[..., None]:
    """Append drafts one hour apart from ``first`` (default: after the newest entry)."""

    def add(drafts: Sequence[EntryDraft], *, first: dt.datetime | None = None) -> None:
        with app.app_context():
            session = get_session()
            size = log_size(session)
            at = first or START + size * HOUR
            for i, draft in enumerate(drafts):
                append_many(session, [draft], now=at + i * HOUR)
            session.commit()

    return add


@pytest.fixture
def story(append: Callable[..., None]) -> None:
    """The eight entries of STORY, 08:00 to 15:00 UTC."""
    append(STORY, first=START)


@pytest.fixture
def as_subject(app: Flask) -> Callable[[str], FlaskClient]:
    """A client with a customer's portal session for ``subject_id`` (GET needs no CSRF)."""

    def sign_in(subject_id: str) -> FlaskClient:
        client = app.test_client()
        with client.session_transaction() as sess:
            sess.update(
                actor_type="subject",
                actor_id=subject_id,
                expires_at=services.session_expiry(30),
            )
        return client

    return sign_in


@pytest.fixture
def prover(as_service: Any) -> Any:
    """A service granted ``audit:proof`` only."""
    return as_service([], ["audit:proof"])


@pytest.fixture
def key_set(client: FlaskClient) -> dict[str, Any]:
    """The published key set, fetched without signing in."""
    resp = client.get(KEY_URL)
    assert resp.status_code == 200
    body: dict[str, Any] = resp.get_json()
    return body


def _seqs(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.get_json()
    return [item["seq"] for item in resp.get_json()["items"]]


def _every_page(reader: Any, params: dict[str, Any], limit: int) -> list[list[int]]:
    """Follow ``next`` from the newest page until it is null; the seqs of each page."""
    pages: list[list[int]] = []
    cursor = None
    while True:
        args = {**params, "limit": limit, **({} if cursor is None else {"before": cursor})}
        resp = reader.get(ENTRIES, query_string=args)
        pages.append(_seqs(resp))
        cursor = resp.get_json()["next"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor does not move"


def _assert_problem(resp: Any, status: int, slug: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == PROBLEM
    body: dict[str, Any] = resp.get_json()
    assert body["type"] == f"/problems/{slug}"
    assert body["status"] == status
    return body


def _public_key(key_set: dict[str, Any]) -> Ed25519PublicKey:
    (published,) = key_set["keys"]
    return checkpoint.public_key_from_raw(checkpoint.unb64(published["public_key"]))


def _signed_head(key_set: dict[str, Any], cp: dict[str, Any]) -> checkpoint.TreeHead:
    """The tree head a checkpoint signs, after checking its signature with the public key."""
    note = cp["note"].encode()
    assert checkpoint.signature_valid(note, checkpoint.unb64(cp["signature"]), _public_key(key_set))
    head = checkpoint.decode(note)
    assert head.origin == key_set["origin"]
    return head


def _leaf(entry: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(checkpoint.unb64(entry["canonical"]))


def _path(proof: dict[str, Any]) -> list[bytes]:
    return [checkpoint.unb64(h) for h in proof["proof"]]


def _leaves(reader: Any) -> list[bytes]:
    """Leaf hashes of every entry, recomputed from their canonical bytes, in seq order."""
    seqs = sorted(_seqs(reader.get(ENTRIES, query_string={"limit": 500})))
    return [_leaf(reader.get(f"{ENTRIES}/{seq}").get_json()) for seq in seqs]


# -- who may read ----------------------------------------------------------------------------

ALL_READS = (
    ENTRIES,
    f"{ENTRIES}/0",
    f"{ENTRIES}/0/proof",
    "/api/v1/audit/consistency?old=0&new=1",
    "/api/v1/audit/checkpoints",
    "/api/v1/audit/checkpoints/latest",
    "/api/v1/audit/export",
    "/api/v1/audit/export?format=csv",
)


def _refusals(reader: Any, paths: Sequence[str], status: int, slug: str) -> dict[str, Any]:
    """Each path that did not answer ``status`` / ``slug``, with what it answered instead."""
    wrong = {}
    for path in paths:
        resp = reader.get(path)
        body = resp.get_json(silent=True) or {}
        if (resp.status_code, resp.mimetype, body.get("type")) != (
            status,
            PROBLEM,
            f"/problems/{slug}",
        ):
            wrong[path] = (resp.status_code, body.get("type"))
    return wrong


def test_unauthenticated_reads_are_401(
    client: FlaskClient, story: None, sign_checkpoint: Any
) -> None:
    sign_checkpoint()

    assert _refusals(client, ALL_READS, 401, "unauthenticated") == {}


def test_service_without_audit_proof_is_403_everywhere(
    as_service: Any, story: None, sign_checkpoint: Any
) -> None:
    sign_checkpoint()
    service = as_service([])  # the default grant: catalog:read, portal-links:issue

    assert _refusals(service, ALL_READS, 403, "forbidden") == {}


def test_operator_without_audit_read_is_403_everywhere(
    as_operator: Any, story: None, sign_checkpoint: Any
) -> None:
    sign_checkpoint()
    operator = as_operator("marketing", "customer_service", "analyst", "admin")

    assert _refusals(operator, ALL_READS, 403, "forbidden") == {}


def test_service_with_audit_proof_never_reads_entry_contents(prover: Any, story: None) -> None:
    paths = [ENTRIES, f"{ENTRIES}/0", "/api/v1/audit/export"]

    assert _refusals(prover, paths, 403, "forbidden") == {}


def test_service_with_audit_proof_gets_the_checkpoint_and_proofs(
    prover: Any, story: None, sign_checkpoint: Any, key_set: dict[str, Any]
) -> None:
    sign_checkpoint()

    latest = prover.get("/api/v1/audit/checkpoints/latest")
    proof = prover.get(f"{ENTRIES}/5/proof")
    consistency = prover.get("/api/v1/audit/consistency", query_string={"old": 3, "new": 8})

    assert latest.status_code == 200
    assert _signed_head(key_set, latest.get_json()).size == 8
    assert proof.status_code == 200
    assert proof.get_json()["checkpoint"] == latest.get_json()
    assert "canonical" not in proof.get_json()
    assert consistency.status_code == 200


# -- filters ---------------------------------------------------------------------------------


def _filter_mismatches(
    reader: Any, table: Sequence[tuple[dict[str, str], list[int]]]
) -> list[tuple[dict[str, str], list[int], Any]]:
    """Rows of ``table`` (query, expected seqs) whose one page differs from the expected."""
    wrong = []
    for params, expected in table:
        resp = reader.get(ENTRIES, query_string=params)
        body = resp.get_json()
        got = (
            [item["seq"] for item in body["items"]]
            if resp.status_code == 200 and body["next"] is None
            else (resp.status_code, body)
        )
        if got != expected:
            wrong.append((params, expected, got))
    return wrong


def test_dpo_filters_by_time_with_offsets_converted_to_utc(as_dpo: Any, story: None) -> None:
    table = [
        ({}, [7, 6, 5, 4, 3, 2, 1, 0]),
        # 11:00+01:00 is 10:00Z (entry 2); 08:30-05:00 is 13:30Z (after entry 5).
        ({"since": "2026-11-25T11:00:00+01:00"}, [7, 6, 5, 4, 3, 2]),
        ({"until": "2026-11-25T08:30:00-05:00"}, [5, 4, 3, 2, 1, 0]),
        (
            {"since": "2026-11-25T11:00:00+01:00", "until": "2026-11-25T08:30:00-05:00"},
            [5, 4, 3, 2],
        ),
        ({"since": "2026-11-25T12:00:00Z"}, [7, 6, 5, 4]),  # inclusive
        ({"until": "2026-11-25T12:00:00+00:00"}, [3, 2, 1, 0]),  # exclusive
        ({"since": "2026-11-25T12:00:00.000001Z"}, [7, 6, 5]),
        ({"since": "2026-11-25T21:00:00+09:00"}, [7, 6, 5, 4]),  # 12:00Z
        ({"since": "2026-11-26T00:00:00Z"}, []),
        ({"until": "2026-11-25T07:00:00Z"}, []),
        ({"since": "2026-11-25T12:00:00Z", "until": "2026-11-25T12:00:00Z"}, []),
    ]

    assert _filter_mismatches(as_dpo, table) == []


def test_dpo_filters_by_actor_type_and_id_together_or_alone(as_dpo: Any, story: None) -> None:
    table = [
        ({"actor_type": "service", "actor_id": "key_fict01"}, [6, 2, 0]),
        ({"actor_type": "service"}, [6, 3, 2, 0]),
        ({"actor_id": "key_fict01"}, [6, 2, 0]),
        ({"actor_type": "subject", "actor_id": ALICE}, [1]),
        ({"actor_type": "operator", "actor_id": "7"}, [4]),
        ({"actor_type": "operator", "actor_id": "key_fict01"}, []),
        ({"actor_type": "partner"}, []),
    ]

    assert _filter_mismatches(as_dpo, table) == []


def test_dpo_filters_by_subject_purpose_action_and_decision(as_dpo: Any, story: None) -> None:
    table = [
        ({"subject": ALICE}, [6, 1, 0]),
        ({"subject": CAROL}, []),
        ({"purpose": "analytics"}, [7, 6, 3]),
        ({"action": "profile.read"}, [6, 3, 2, 0]),
        ({"decision": "allow"}, [7, 5, 4, 3, 1, 0]),
        ({"decision": "deny"}, [2]),
        ({"decision": "error"}, [6]),
    ]

    assert _filter_mismatches(as_dpo, table) == []


def test_dpo_combines_filters_all_of_which_must_match(as_dpo: Any, story: None) -> None:
    table = [
        ({"action": "profile.read", "purpose": "marketing_push", "decision": "allow"}, [0]),
        ({"subject": BOB, "since": "2026-11-25T10:30:00Z"}, [7, 3]),
        ({"actor_type": "subject", "subject": BOB}, [7]),
        ({"purpose": "analytics", "until": "2026-11-25T15:30:00+01:00"}, [6, 3]),
        ({"subject": ALICE, "decision": "deny"}, []),
    ]

    assert _filter_mismatches(as_dpo, table) == []


def test_entry_fields_are_shown_as_logged(as_dpo: Any, story: None) -> None:
    resp = as_dpo.get(ENTRIES, query_string={"decision": "deny"})

    (item,) = resp.get_json()["items"]
    assert item == {
        "seq": 2,
        "time": "2026-11-25T10:00:00.000000Z",
        "actor": {"type": "service", "id": "key_fict01"},
        "action": "profile.read",
        "subject": BOB,
        "purpose": "marketing_push",
        "resource": None,
        "decision": "deny",
        "reasons": ["consent:withdrawn"],
        "policy_hash": None,
        "request_id": None,
        "details": {},
        "leaf_hash": item["leaf_hash"],
    }
    assert len(checkpoint.unb64(item["leaf_hash"])) == 32


# -- keyset pages ----------------------------------------------------------------------------


def test_pages_go_newest_first_without_duplicates_or_gaps(
    as_dpo: Any, append: Callable[..., None]
) -> None:
    append(_filler(23))

    pages = _every_page(as_dpo, {}, limit=5)

    assert pages == [
        [22, 21, 20, 19, 18],
        [17, 16, 15, 14, 13],
        [12, 11, 10, 9, 8],
        [7, 6, 5, 4, 3],
        [2, 1, 0],
    ]


def test_next_is_the_last_seq_of_the_page_and_null_at_the_end(
    as_dpo: Any, append: Callable[..., None]
) -> None:
    append(_filler(10))

    first = as_dpo.get(ENTRIES, query_string={"limit": 5}).get_json()
    last = as_dpo.get(ENTRIES, query_string={"limit": 5, "before": first["next"]}).get_json()

    assert first["next"] == "5"
    assert [item["seq"] for item in last["items"]] == [4, 3, 2, 1, 0]
    assert last["next"] is None  # exactly full, yet no empty page follows


def test_filtered_pages_hold_every_match_once(as_dpo: Any, story: None) -> None:
    assert _every_page(as_dpo, {"action": "profile.read"}, limit=3) == [[6, 3, 2], [0]]
    assert _every_page(as_dpo, {"subject": BOB}, limit=1) == [[7], [3], [2]]


def test_entries_appended_while_paging_neither_repeat_nor_shift_the_pages(
    as_dpo: Any, append: Callable[..., None]
) -> None:
    append(_filler(9))
    first = as_dpo.get(ENTRIES, query_string={"limit": 4}).get_json()
    append(_filler(5))  # 9-13, newer than every page still to come

    second = as_dpo.get(ENTRIES, query_string={"limit": 4, "before": first["next"]}).get_json()
    third = as_dpo.get(ENTRIES, query_string={"limit": 4, "before": second["next"]}).get_json()

    assert [item["seq"] for item in first["items"]] == [8, 7, 6, 5]
    assert [item["seq"] for item in second["items"]] == [4, 3, 2, 1]
    assert [item["seq"] for item in third["items"]] == [0]
    assert third["next"] is None


def test_default_page_size_is_fifty(as_dpo: Any, append: Callable[..., None]) -> None:
    append(_filler(51))

    resp = as_dpo.get(ENTRIES)

    assert _seqs(resp) == list(range(50, 0, -1))
    assert resp.get_json()["next"] == "1"


def test_before_beyond_the_log_still_finds_the_entries_below_it(as_dpo: Any, story: None) -> None:
    # Any before up to 2**63 - 1 is accepted; a filter without an index (decision) must not
    # spend its scan window on positions past the log.
    resp = as_dpo.get(ENTRIES, query_string={"decision": "deny", "before": str(2**63 - 1)})

    assert _seqs(resp) == [2]
    assert resp.get_json()["next"] is None


def test_before_zero_is_an_empty_final_page(as_dpo: Any, story: None) -> None:
    resp = as_dpo.get(ENTRIES, query_string={"before": 0})

    assert _seqs(resp) == []
    assert resp.get_json()["next"] is None


# -- malformed requests ----------------------------------------------------------------------


def _not_refused(
    reader: Any, path: str, table: Sequence[tuple[dict[str, Any], str, str]]
) -> list[tuple[dict[str, Any], Any]]:
    """Rows of ``table`` (query, field, problem slug) not answered 422 naming that field."""
    wrong = []
    for params, field, slug in table:
        resp = reader.get(path, query_string=params)
        body = resp.get_json(silent=True) or {}
        if (
            resp.status_code != 422
            or resp.mimetype != PROBLEM
            or body.get("type") != f"/problems/{slug}"
            or field not in body.get("errors", {})
        ):
            wrong.append((params, (resp.status_code, body)))
    return wrong


def test_unknown_entry_query_parameters_are_422_and_write_nothing(
    as_dpo: Any, story: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"bogus": "1"}, "bogus", "unknown-field"),
        ({"page": "2"}, "page", "unknown-field"),
        ({"offset": "10", "limit": "5"}, "offset", "unknown-field"),
        ({"format": "csv"}, "format", "unknown-field"),  # an export parameter
    ]

    assert _not_refused(as_dpo, ENTRIES, table) == []
    assert db_snapshot() == before


def test_malformed_times_are_422_and_write_nothing(
    as_dpo: Any, story: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"since": "yesterday"}, "since", "validation-error"),
        ({"since": "2026-11-25T10:00:00"}, "since", "validation-error"),  # no offset
        ({"until": "2026-11-25"}, "until", "validation-error"),
        ({"until": "2026-13-01T00:00:00Z"}, "until", "validation-error"),
        ({"since": "2026-11-25T10:00:00+24:00"}, "since", "validation-error"),
        ({"since": "9999-12-31T23:00:00-05:00"}, "since", "validation-error"),  # UTC: year 10000
        ({"until": "0001-01-01T00:30:00+01:00"}, "until", "validation-error"),  # UTC: year 0
        (
            {"since": "2026-11-25T12:00:00Z", "until": "2026-11-25T11:00:00Z"},
            "until",
            "validation-error",
        ),
        (  # reads as later, yet is an hour before since once both are in UTC
            {"since": "2026-11-25T10:00:00-02:00", "until": "2026-11-25T11:00:00Z"},
            "until",
            "validation-error",
        ),
    ]

    assert _not_refused(as_dpo, ENTRIES, table) == []
    assert db_snapshot() == before


def test_malformed_page_parameters_are_422_and_write_nothing(
    as_dpo: Any, story: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"limit": "0"}, "limit", "validation-error"),
        ({"limit": "501"}, "limit", "validation-error"),
        ({"limit": "ten"}, "limit", "validation-error"),
        ({"before": "-1"}, "before", "validation-error"),
        ({"before": str(2**63)}, "before", "validation-error"),
        ({"before": "1.5"}, "before", "validation-error"),
        ({"before": ""}, "before", "validation-error"),
    ]

    assert _not_refused(as_dpo, ENTRIES, table) == []
    assert db_snapshot() == before


def test_malformed_filter_values_are_422_and_write_nothing(
    as_dpo: Any, story: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"actor_type": "robot"}, "actor_type", "validation-error"),
        ({"actor_id": "key fict"}, "actor_id", "validation-error"),
        ({"actor_id": ""}, "actor_id", "validation-error"),
        ({"subject": "li.wei@example.com"}, "subject", "validation-error"),
        ({"subject": "sub_short"}, "subject", "validation-error"),
        ({"purpose": "Marketing Push"}, "purpose", "validation-error"),
        ({"action": "Profile.Read"}, "action", "validation-error"),
        ({"decision": "maybe"}, "decision", "validation-error"),
    ]

    assert _not_refused(as_dpo, ENTRIES, table) == []
    assert db_snapshot() == before


def test_malformed_export_query_is_422_and_writes_nothing(
    as_dpo: Any, story: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"format": "xml"}, "format", "validation-error"),
        ({"format": "CSV"}, "format", "validation-error"),
        ({"limit": "5"}, "limit", "unknown-field"),
        ({"before": "5"}, "before", "unknown-field"),
        ({"subject": "sub_short"}, "subject", "validation-error"),
        ({"since": "2026-11-25"}, "since", "validation-error"),
    ]

    assert _not_refused(as_dpo, "/api/v1/audit/export", table) == []
    assert db_snapshot() == before


# -- a customer reads only entries about themselves ------------------------------------------


def test_customer_lists_only_entries_about_themselves(as_subject: Any, story: None) -> None:
    alice = as_subject(ALICE)

    assert _seqs(alice.get(ENTRIES)) == [6, 1, 0]
    assert _seqs(alice.get(ENTRIES, query_string={"subject": ALICE})) == [6, 1, 0]
    assert _seqs(alice.get(ENTRIES, query_string={"action": "profile.read"})) == [6, 0]
    assert _seqs(alice.get(ENTRIES, query_string={"purpose": "analytics"})) == [6]
    assert _seqs(alice.get(ENTRIES, query_string={"actor_id": "key_fict01"})) == [6, 0]
    assert _seqs(alice.get(ENTRIES, query_string={"since": "2026-11-25T09:00:00Z"})) == [6, 1]


def test_customer_pages_stay_confined_to_themselves(as_subject: Any, story: None) -> None:
    assert _every_page(as_subject(BOB), {}, limit=2) == [[7, 3], [2]]


def test_customer_asking_for_another_subject_is_403(
    as_subject: Any, story: None, db_snapshot: Any
) -> None:
    before = db_snapshot()

    resp = as_subject(ALICE).get(ENTRIES, query_string={"subject": BOB})

    _assert_problem(resp, 403, "forbidden")
    assert db_snapshot() == before


def test_another_subjects_entry_and_proof_are_404_to_a_customer(
    as_subject: Any, story: None, sign_checkpoint: Any
) -> None:
    sign_checkpoint()
    alice = as_subject(ALICE)
    others = [2, 3, 7, 4, 5]  # Bob's, then entries about no one

    paths = [f"{ENTRIES}/{seq}" for seq in others] + [f"{ENTRIES}/{seq}/proof" for seq in others]

    assert _refusals(alice, paths, 404, "not-found") == {}
    assert alice.get(f"{ENTRIES}/0").status_code == 200  # her own
    assert alice.get(f"{ENTRIES}/0/proof").status_code == 200


def test_customer_without_any_entry_sees_an_empty_list(as_subject: Any, story: None) -> None:
    resp = as_subject(CAROL).get(ENTRIES)

    assert _seqs(resp) == []
    assert resp.get_json()["next"] is None


def test_an_export_needs_a_step_up_and_is_recorded_before_it_streams(
    as_dpo: Any, story: None
) -> None:
    with as_dpo.client.session_transaction() as sess:
        sess["mfa_at"] = int(dt.datetime.now(dt.UTC).timestamp()) - 3600  # an hour ago
    stale = _export(as_dpo, subject=ALICE)
    assert stale.status_code == 403
    assert stale.get_json()["type"] == "/problems/step-up-required"
    assert _export(as_dpo).status_code == 403  # without filters too: nothing streamed
    assert [i["seq"] for i in as_dpo.get(ENTRIES).get_json()["items"]] == list(range(7, -1, -1))

    with as_dpo.client.session_transaction() as sess:
        sess["mfa_at"] = int(dt.datetime.now(dt.UTC).timestamp())  # a fresh code
    resp = _export(as_dpo, subject=ALICE, format="csv")
    assert resp.status_code == 200
    items = as_dpo.get(ENTRIES).get_json()["items"]
    assert [i["action"] for i in items].count("audit.export") == 1
    record = items[0]
    assert record["action"] == "audit.export" and record["resource"] == "audit_log"
    assert record["subject"] is None
    assert record["details"] == {"format": "csv", "filters": {"subject": ALICE}}


def test_customer_cannot_export(as_subject: Any, story: None) -> None:
    paths = [
        "/api/v1/audit/export",
        "/api/v1/audit/export?format=csv",
        f"/api/v1/audit/export?subject={ALICE}",
    ]

    assert _refusals(as_subject(ALICE), paths, 403, "forbidden") == {}


def test_customer_verifies_their_own_entry_offline(
    as_subject: Any, story: None, sign_checkpoint: Any, client: FlaskClient
) -> None:
    sign_checkpoint()
    alice = as_subject(ALICE)
    key_set = client.get(KEY_URL).get_json()  # saved earlier, anywhere

    entry = alice.get(f"{ENTRIES}/6").get_json()
    proof = alice.get(f"{ENTRIES}/6/proof").get_json()

    head = _signed_head(key_set, proof["checkpoint"])
    assert json.loads(checkpoint.unb64(entry["canonical"]))["subject"] == ALICE
    assert merkle.verify_inclusion(6, head.size, _leaf(entry), _path(proof), head.root)


# -- export ----------------------------------------------------------------------------------


def _export(reader: Any, **params: Any) -> Any:
    """The export response, read to its end (a stream holds its request open until then)."""
    resp = reader.get("/api/v1/audit/export", query_string=params)
    resp.get_data()
    return resp


def _jsonl_seqs(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return [json.loads(line)["seq"] for line in resp.get_data(as_text=True).splitlines()]


def test_jsonl_export_has_every_match_once_newest_first_as_the_api_shows_it(
    as_dpo: Any, story: None
) -> None:
    shown = as_dpo.get(ENTRIES, query_string={"purpose": "analytics"}).get_json()["items"]

    resp = _export(as_dpo, purpose="analytics")

    assert resp.status_code == 200
    assert resp.mimetype == "application/x-ndjson"
    assert re.fullmatch(
        r'attachment; filename="audit-entries-\d{8}T\d{6}Z\.jsonl"',
        resp.headers["Content-Disposition"],
    )
    lines = resp.get_data(as_text=True).splitlines()
    assert [json.loads(line) for line in lines] == shown
    assert [item["seq"] for item in shown] == [7, 6, 3]


def test_export_defaults_to_jsonl_of_the_whole_log(as_dpo: Any, story: None) -> None:
    resp = _export(as_dpo)

    assert resp.mimetype == "application/x-ndjson"
    # The export's own record (seq 8, written before the first byte) comes first.
    assert _jsonl_seqs(resp) == [8, 7, 6, 5, 4, 3, 2, 1, 0]


def test_export_applies_every_filter_and_the_time_range_with_offsets(
    as_dpo: Any, story: None
) -> None:
    in_range = _jsonl_seqs(
        _export(as_dpo, since="2026-11-25T11:00:00+01:00", until="2026-11-25T08:30:00-05:00")
    )
    combined = _jsonl_seqs(_export(as_dpo, actor_type="service", decision="allow"))
    nothing = _export(as_dpo, format="csv", until="2026-11-25T07:00:00Z").get_data(as_text=True)

    assert in_range == [5, 4, 3, 2]
    assert combined == [3, 0]
    assert nothing == ",".join(CSV_HEADER) + "\r\n"


def test_export_streams_batch_by_batch(
    as_dpo: Any, append: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "EXPORT_BATCH", 4)
    append(_filler(10))

    resp = as_dpo.get("/api/v1/audit/export", buffered=False)
    try:
        chunks = [bytes(chunk) for chunk in resp.response]
    finally:
        resp.close()

    assert resp.is_streamed
    assert "Content-Length" not in resp.headers
    assert resp.headers["X-Accel-Buffering"] == "no"
    per_chunk = [[json.loads(line)["seq"] for line in c.splitlines()] for c in chunks if c]
    # Ten fillers and, newest, the export's own record.
    assert per_chunk == [[10, 9, 8, 7], [6, 5, 4, 3], [2, 1, 0]]


def test_export_of_a_sparse_filter_over_many_batches_has_each_match_once(
    as_dpo: Any, append: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(query, "EXPORT_BATCH", 3)
    append(
        [
            EntryDraft(
                action="test.event",
                actor_type="system",
                actor_id="tests",
                decision="deny" if i % 4 == 1 else "allow",
                details={"n": i},
            )
            for i in range(30)
        ]
    )

    jsonl = _export(as_dpo, decision="deny")
    csv_text = _export(as_dpo, decision="deny", format="csv").get_data(as_text=True)

    expected = [i for i in range(29, -1, -1) if i % 4 == 1]
    assert _jsonl_seqs(jsonl) == expected
    assert [int(row["seq"]) for row in csv.DictReader(io.StringIO(csv_text))] == expected


CSV_HEADER = [
    "seq",
    "time",
    "actor_type",
    "actor_id",
    "action",
    "subject",
    "purpose",
    "resource",
    "decision",
    "reasons",
    "policy_hash",
    "request_id",
    "details",
    "leaf_hash",
]


def test_csv_export_has_the_header_and_one_row_per_entry(as_dpo: Any, story: None) -> None:
    resp = _export(as_dpo, format="csv")

    assert resp.status_code == 200
    assert resp.mimetype == "text/csv"
    assert re.fullmatch(
        r'attachment; filename="audit-entries-\d{8}T\d{6}Z\.csv"',
        resp.headers["Content-Disposition"],
    )
    header, *rows = csv.reader(io.StringIO(resp.get_data(as_text=True)))
    assert header == CSV_HEADER
    # The export's own record (seq 8) first, then the story's entries.
    assert [row[0] for row in rows] == [str(seq) for seq in range(8, -1, -1)]
    assert rows[0][CSV_HEADER.index("action")] == "audit.export"


def test_csv_export_writes_reasons_and_details_as_json_text(as_dpo: Any, story: None) -> None:
    shown = {item["seq"]: item for item in as_dpo.get(ENTRIES).get_json()["items"]}

    by_bob = _export(as_dpo, format="csv", subject=BOB).get_data(as_text=True)
    errors = _export(as_dpo, format="csv", decision="error").get_data(as_text=True)

    rows = {int(r["seq"]): r for r in csv.DictReader(io.StringIO(by_bob))}
    assert sorted(rows) == [2, 3, 7]
    denied = rows[2]
    assert denied["time"] == "2026-11-25T10:00:00.000000Z"
    assert (denied["actor_type"], denied["actor_id"]) == ("service", "key_fict01")
    assert (denied["subject"], denied["purpose"], denied["decision"]) == (
        BOB,
        "marketing_push",
        "deny",
    )
    assert denied["resource"] == ""  # null
    assert denied["reasons"] == '["consent:withdrawn"]'
    assert denied["details"] == "{}"
    assert denied["leaf_hash"].removeprefix("'") == shown[2]["leaf_hash"]
    (error_row,) = csv.DictReader(io.StringIO(errors))
    assert error_row["details"] == '{"count":1,"fields":["mobile"]}'
    assert json.loads(error_row["details"]) == shown[6]["details"]


def test_csv_cells_a_spreadsheet_would_run_start_with_a_quote(
    as_dpo: Any, append: Callable[..., None]
) -> None:
    cases = [  # (column, value written, cell in the CSV)
        (
            "resource",
            '=HYPERLINK("https://evil.example.com")',
            '\'=HYPERLINK("https://evil.example.com")',
        ),
        ("resource", "+cmd", "'+cmd"),
        ("resource", "-2+3", "'-2+3"),
        ("resource", "@SUM(1,2)", "'@SUM(1,2)"),
        ("resource", "\tfiller", "'\tfiller"),
        ("resource", "\rfiller", "'\rfiller"),
        ("actor_id", "-svc_fict", "'-svc_fict"),
        ("request_id", "-req-0001", "'-req-0001"),
        ("resource", "console", "console"),  # harmless cells stay as they are
        ("resource", "a=b", "a=b"),
        ("resource", "'quoted", "'quoted"),
    ]
    base: dict[str, Any] = {
        "action": "test.event",
        "actor_type": "service",
        "actor_id": "key_fict01",
    }
    append([EntryDraft(**{**base, column: value}) for column, value, _cell in cases])

    resp = _export(as_dpo, format="csv")

    export, *rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True), newline="")))
    assert export["action"] == "audit.export"  # the export's own record, newest
    got = [row[column] for row, (column, _v, _c) in zip(reversed(rows), cases, strict=True)]
    assert got == [cell for _column, _value, cell in cases]
    items = as_dpo.get(ENTRIES).get_json()["items"]
    for row, item in zip([export, *rows], items, strict=True):
        leaf = item["leaf_hash"]  # base64 may start with '+'
        assert row["leaf_hash"] == ("'" + leaf if leaf.startswith("+") else leaf)


# -- one entry -------------------------------------------------------------------------------


def test_entry_carries_its_canonical_bytes_that_hash_to_its_leaf(as_dpo: Any, story: None) -> None:
    resp = as_dpo.get(f"{ENTRIES}/6")

    entry = resp.get_json()
    canonical = checkpoint.unb64(entry["canonical"])
    assert resp.status_code == 200
    assert checkpoint.b64(merkle.leaf_hash(canonical)) == entry["leaf_hash"]
    assert json.loads(canonical) == {
        "v": 1,
        "seq": 6,
        "time": "2026-11-25T14:00:00.000000Z",
        "actor": {"type": "service", "id": "key_fict01"},
        "action": "profile.read",
        "subject": ALICE,
        "purpose": "analytics",
        "resource": None,
        "decision": "error",
        "reasons": [],
        "policy": None,
        "request_id": None,
        "details": {"count": 1, "fields": ["mobile"]},
    }


def test_entry_beyond_the_log_is_404(as_dpo: Any, story: None) -> None:
    beyond = [8, 1000, 2**63 - 1, 2**63, 10**30]

    paths = [f"{ENTRIES}/{seq}" for seq in beyond] + [f"{ENTRIES}/{seq}/proof" for seq in beyond]

    assert _refusals(as_dpo, paths, 404, "not-found") == {}


# -- inclusion proofs ------------------------------------------------------------------------


@pytest.fixture
def signed_then_grown(story: None, sign_checkpoint: Any, append: Callable[..., None]) -> None:
    """STORY and 5 more entries (13 in all); a checkpoint over the first 8 only."""
    sign_checkpoint()
    append(_filler(5))


def test_inclusion_proof_against_the_latest_checkpoint_verifies_offline(
    as_dpo: Any, signed_then_grown: None, key_set: dict[str, Any]
) -> None:
    for seq in range(8):
        entry = as_dpo.get(f"{ENTRIES}/{seq}").get_json()

        resp = as_dpo.get(f"{ENTRIES}/{seq}/proof")

        proof = resp.get_json()
        assert resp.status_code == 200
        head = _signed_head(key_set, proof["checkpoint"])
        assert (proof["seq"], proof["tree_size"], head.size) == (seq, 8, 8)
        assert proof["root_hash"] == checkpoint.b64(head.root)
        assert proof["leaf_hash"] == entry["leaf_hash"] == checkpoint.b64(_leaf(entry))
        assert merkle.verify_inclusion(seq, head.size, _leaf(entry), _path(proof), head.root), seq


def test_inclusion_proof_does_not_verify_for_another_entry(
    as_dpo: Any, signed_then_grown: None, key_set: dict[str, Any]
) -> None:
    other = as_dpo.get(f"{ENTRIES}/3").get_json()

    proof = as_dpo.get(f"{ENTRIES}/2/proof").get_json()

    head = _signed_head(key_set, proof["checkpoint"])
    assert not merkle.verify_inclusion(2, head.size, _leaf(other), _path(proof), head.root)


def test_checkpoint_signature_fails_with_another_key(as_dpo: Any, signed_then_grown: None) -> None:
    stranger = Ed25519PrivateKey.generate().public_key()

    cp = as_dpo.get(f"{ENTRIES}/2/proof").get_json()["checkpoint"]

    assert not checkpoint.signature_valid(
        cp["note"].encode(), checkpoint.unb64(cp["signature"]), stranger
    )


def test_entries_after_the_latest_checkpoint_are_proved_against_the_current_root(
    as_dpo: Any, signed_then_grown: None
) -> None:
    leaves = _leaves(as_dpo)
    root = merkle.root_of_leaves(leaves)

    for seq in range(8, 13):
        proof = as_dpo.get(f"{ENTRIES}/{seq}/proof").get_json()

        assert proof["checkpoint"] is None
        assert proof["tree_size"] == 13
        assert proof["root_hash"] == checkpoint.b64(root)
        assert merkle.verify_inclusion(seq, 13, leaves[seq], _path(proof), root), seq


def test_before_any_checkpoint_the_proof_is_against_the_current_root(
    as_dpo: Any, story: None
) -> None:
    leaves = _leaves(as_dpo)
    root = merkle.root_of_leaves(leaves)

    proof = as_dpo.get(f"{ENTRIES}/3/proof").get_json()

    assert proof["checkpoint"] is None
    assert proof["tree_size"] == 8
    assert proof["root_hash"] == checkpoint.b64(root)
    assert merkle.verify_inclusion(3, 8, leaves[3], _path(proof), root)


def test_inclusion_proof_for_an_explicit_tree_size(as_dpo: Any, signed_then_grown: None) -> None:
    leaves = _leaves(as_dpo)

    for tree_size in (4, 5, 9, 12, 13):
        resp = as_dpo.get(f"{ENTRIES}/3/proof", query_string={"tree_size": tree_size})

        proof = resp.get_json()
        root = merkle.root_of_leaves(leaves[:tree_size])
        assert resp.status_code == 200
        assert (proof["tree_size"], proof["checkpoint"]) == (tree_size, None)
        assert proof["root_hash"] == checkpoint.b64(root)
        assert merkle.verify_inclusion(3, tree_size, leaves[3], _path(proof), root), tree_size


def test_explicit_tree_size_of_an_older_checkpoint_comes_with_that_checkpoint(
    as_dpo: Any,
    signed_then_grown: None,
    sign_checkpoint: Any,
    key_set: dict[str, Any],
) -> None:
    sign_checkpoint()  # the latest is now over 13; the one over 8 is older
    entry = as_dpo.get(f"{ENTRIES}/5").get_json()

    proof = as_dpo.get(f"{ENTRIES}/5/proof", query_string={"tree_size": 8}).get_json()

    head = _signed_head(key_set, proof["checkpoint"])
    assert (proof["checkpoint"]["id"], head.size) == (0, 8)
    assert merkle.verify_inclusion(5, 8, _leaf(entry), _path(proof), head.root)


def test_tree_size_out_of_range_is_422_and_writes_nothing(
    as_dpo: Any, signed_then_grown: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"tree_size": "3"}, "tree_size", "validation-error"),  # the entry's own seq
        ({"tree_size": "2"}, "tree_size", "validation-error"),
        ({"tree_size": "14"}, "tree_size", "validation-error"),  # beyond the log of 13
        ({"tree_size": "0"}, "tree_size", "validation-error"),
        ({"tree_size": str(2**63)}, "tree_size", "validation-error"),
        ({"tree_size": "big"}, "tree_size", "validation-error"),
        ({"size": "5"}, "size", "unknown-field"),
    ]

    assert _not_refused(as_dpo, f"{ENTRIES}/3/proof", table) == []
    assert db_snapshot() == before


# -- consistency proofs ----------------------------------------------------------------------


@pytest.fixture
def two_checkpoints(append: Callable[..., None], sign_checkpoint: Any) -> None:
    """Checkpoints 0 over 5 entries and 1 over 11."""
    append(_filler(5))
    sign_checkpoint()
    append(_filler(6))
    sign_checkpoint()


def test_consistency_between_two_signed_checkpoints_verifies_offline(
    as_dpo: Any, two_checkpoints: None, key_set: dict[str, Any]
) -> None:
    newer, older = as_dpo.get("/api/v1/audit/checkpoints").get_json()["items"]
    old_head, new_head = _signed_head(key_set, older), _signed_head(key_set, newer)

    resp = as_dpo.get(
        "/api/v1/audit/consistency", query_string={"old": old_head.size, "new": new_head.size}
    )

    body = resp.get_json()
    path = [checkpoint.unb64(h) for h in body["proof"]]
    assert resp.status_code == 200
    assert (body["old"], body["new"]) == (5, 11)
    assert body["old_root"] == checkpoint.b64(old_head.root)
    assert body["new_root"] == checkpoint.b64(new_head.root)
    assert merkle.verify_consistency(5, 11, old_head.root, new_head.root, path)
    assert not merkle.verify_consistency(5, 11, new_head.root, new_head.root, path)


def test_consistency_between_any_sizes_matches_the_recomputed_roots(
    as_dpo: Any, two_checkpoints: None
) -> None:
    leaves = _leaves(as_dpo)

    for old, new in [(0, 11), (11, 11), (0, 0), (1, 2), (4, 8), (7, 9), (3, 11)]:
        body = as_dpo.get(
            "/api/v1/audit/consistency", query_string={"old": old, "new": new}
        ).get_json()

        old_root = merkle.root_of_leaves(leaves[:old])
        new_root = merkle.root_of_leaves(leaves[:new])
        assert (body["old_root"], body["new_root"]) == (
            checkpoint.b64(old_root),
            checkpoint.b64(new_root),
        ), (old, new)
        path = [checkpoint.unb64(h) for h in body["proof"]]
        assert merkle.verify_consistency(old, new, old_root, new_root, path), (old, new)


def test_malformed_consistency_query_is_422_and_writes_nothing(
    as_dpo: Any, two_checkpoints: None, db_snapshot: Any
) -> None:
    before = db_snapshot()
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"old": 5, "new": 12}, "new", "validation-error"),  # beyond the log of 11
        ({"old": 6, "new": 5}, "old", "validation-error"),
        ({"old": 5}, "new", "validation-error"),
        ({"new": 5}, "old", "validation-error"),
        ({"old": -1, "new": 5}, "old", "validation-error"),
        ({"old": "x", "new": 5}, "old", "validation-error"),
        ({"old": 1, "new": 5, "tree_size": 5}, "tree_size", "unknown-field"),
    ]

    assert _not_refused(as_dpo, "/api/v1/audit/consistency", table) == []
    assert db_snapshot() == before


def test_customer_gets_consistency_proofs(as_subject: Any, two_checkpoints: None) -> None:
    resp = as_subject(ALICE).get("/api/v1/audit/consistency", query_string={"old": 5, "new": 11})

    assert resp.status_code == 200
    assert resp.get_json()["new"] == 11


# -- checkpoints -----------------------------------------------------------------------------


def test_latest_checkpoint_is_404_before_any_is_signed(as_dpo: Any, story: None) -> None:
    _assert_problem(as_dpo.get("/api/v1/audit/checkpoints/latest"), 404, "not-found")


def test_latest_checkpoint_is_the_newest_signed_head(
    as_dpo: Any, two_checkpoints: None, key_set: dict[str, Any]
) -> None:
    resp = as_dpo.get("/api/v1/audit/checkpoints/latest")

    cp = resp.get_json()
    head = _signed_head(key_set, cp)
    assert resp.status_code == 200
    assert (cp["id"], cp["tree_size"], head.size) == (1, 11, 11)
    assert cp["root_hash"] == checkpoint.b64(head.root)
    assert cp["chain_hash"] == checkpoint.b64(head.chain)
    assert cp["signed_at"] == head.time
    assert cp["key_id"] == key_set["keys"][0]["key_id"]


def test_customer_gets_the_latest_checkpoint(as_subject: Any, two_checkpoints: None) -> None:
    assert as_subject(CAROL).get("/api/v1/audit/checkpoints/latest").get_json()["id"] == 1


def test_checkpoints_are_keyset_paged_newest_first(
    as_dpo: Any, append: Callable[..., None], sign_checkpoint: Any, key_set: dict[str, Any]
) -> None:
    for _ in range(3):
        append(_filler(2))
        sign_checkpoint()

    first = as_dpo.get("/api/v1/audit/checkpoints", query_string={"limit": 2}).get_json()
    rest = as_dpo.get(
        "/api/v1/audit/checkpoints", query_string={"limit": 2, "before": first["next"]}
    ).get_json()

    assert [(cp["id"], cp["tree_size"]) for cp in first["items"]] == [(2, 6), (1, 4)]
    assert first["next"] == "1"
    assert [(cp["id"], cp["tree_size"]) for cp in rest["items"]] == [(0, 2)]
    assert rest["next"] is None
    for cp in first["items"] + rest["items"]:
        assert _signed_head(key_set, cp).size == cp["tree_size"]


def test_checkpoints_without_any_is_an_empty_final_page(as_dpo: Any) -> None:
    assert as_dpo.get("/api/v1/audit/checkpoints").get_json() == {"items": [], "next": None}


def test_malformed_checkpoints_query_is_422(as_dpo: Any) -> None:
    table: list[tuple[dict[str, Any], str, str]] = [
        ({"limit": 0}, "limit", "validation-error"),
        ({"limit": 501}, "limit", "validation-error"),
        ({"before": -1}, "before", "validation-error"),
        ({"since": "2026-11-25T10:00:00Z"}, "since", "unknown-field"),
    ]

    assert _not_refused(as_dpo, "/api/v1/audit/checkpoints", table) == []


# -- the public key --------------------------------------------------------------------------


def test_public_key_needs_no_sign_in_and_may_be_cached(client: FlaskClient) -> None:
    resp = client.get(KEY_URL)

    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == "public, max-age=3600"
    assert resp.headers["Access-Control-Allow-Origin"] == "*"


def test_public_key_pem_and_raw_agree_and_name_the_signing_key(
    app: Flask, key_set: dict[str, Any]
) -> None:
    (published,) = key_set["keys"]
    raw = checkpoint.unb64(published["public_key"], length=32)
    from_pem = serialization.load_pem_public_key(published["pem"].encode())
    with app.app_context():
        signer_key_id = audit.get_signer().key_id

    assert isinstance(from_pem, Ed25519PublicKey)
    assert checkpoint.raw_public_key(from_pem) == raw
    assert published["key_id"] == checkpoint.key_id(checkpoint.public_key_from_raw(raw))
    assert published["key_id"] == signer_key_id
    assert re.fullmatch(r"[0-9a-f]{16}", published["key_id"])
    assert key_set["origin"] == "portal.example.com/audit"
    assert key_set["algorithm"] == "Ed25519"


def test_checkpoints_name_the_published_key(
    as_dpo: Any, story: None, sign_checkpoint: Any, key_set: dict[str, Any]
) -> None:
    sign_checkpoint()

    cp = as_dpo.get("/api/v1/audit/checkpoints/latest").get_json()

    assert cp["key_id"] == key_set["keys"][0]["key_id"]


# -- the OpenAPI document --------------------------------------------------------------------


def test_openapi_document_lists_the_audit_paths(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()

    paths = spec["paths"]
    assert {
        "/api/v1/audit/entries",
        "/api/v1/audit/entries/{seq}",
        "/api/v1/audit/entries/{seq}/proof",
        "/api/v1/audit/consistency",
        "/api/v1/audit/checkpoints",
        "/api/v1/audit/checkpoints/latest",
        "/api/v1/audit/export",
        KEY_URL,
    } <= set(paths)
    entry_params = {p["name"] for p in paths["/api/v1/audit/entries"]["get"]["parameters"]}
    assert entry_params == {
        "since",
        "until",
        "actor_type",
        "actor_id",
        "subject",
        "purpose",
        "action",
        "decision",
        "before",
        "limit",
    }
    export_types = set(paths["/api/v1/audit/export"]["get"]["responses"]["200"]["content"])
    assert export_types == {"application/x-ndjson", "text/csv"}
    assert paths[KEY_URL]["get"]["security"] == []


def test_witnesses_list_the_checkpoints(
    prover: Any, as_subject: Any, two_checkpoints: None, key_set: dict[str, Any]
) -> None:
    for reader in (prover, as_subject(ALICE)):
        resp = reader.get("/api/v1/audit/checkpoints")
        assert resp.status_code == 200
        items = resp.get_json()["items"]
        assert len(items) == 2
        assert [_signed_head(key_set, cp).size for cp in items] == [
            items[0]["tree_size"],
            items[1]["tree_size"],
        ]


@pytest.mark.parametrize(
    "path",
    [
        f"{ENTRIES}?decision=deny&decision=error",
        f"{ENTRIES}?limit=5&limit=6",
        "/api/v1/audit/export?format=csv&format=jsonl",
        "/api/v1/audit/consistency?old=1&old=2&new=3",
        f"{ENTRIES}/0/proof?tree_size=3&tree_size=4",
        "/api/v1/audit/checkpoints?before=5&before=6",
    ],
)
def test_a_parameter_given_twice_is_refused_not_narrowed(
    as_dpo: Any, story: None, path: str
) -> None:
    resp = as_dpo.get(path)
    assert resp.status_code == 422
    body = resp.get_json()
    assert body["type"] == "/problems/validation-error"
    name = path.split("?")[1].split("=")[0]
    assert body["errors"] == {name: ["Give this parameter once."]}
