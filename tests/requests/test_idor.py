"""A customer sees and acts on their own requests and data only: tampered ids answer 404."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from governance.db import get_session
from governance.profiles.models import Subject
from tests.requests.conftest import VALUES, file, filed


@pytest.fixture
def theirs(as_subject: Any, other: str) -> dict[str, dict[str, Any]]:
    """The other customer's requests, one of each kind that leaves something to fetch."""
    them = as_subject(other)
    return {
        kind: filed(them, other, kind=kind, **({"confirm": True} if kind == "erasure" else {}))
        for kind in ("access", "explanation", "erasure")
    }


def test_filing_for_another_subject_is_404_and_changes_nothing(
    app: Flask, me: Any, other: str, db_snapshot: Any
) -> None:
    before = db_snapshot()
    for kind in ("access", "restriction", "explanation"):
        assert file(me, other, kind=kind).status_code == 404
    assert file(me, other, kind="erasure", confirm=True).status_code == 404
    assert file(me, other, kind="correction", values={"city": "x"}).status_code == 404
    assert db_snapshot() == before
    with app.app_context():
        subject = get_session().get(Subject, other)
        assert subject is not None and subject.restricted_at is None


def test_another_subjects_requests_and_documents_are_404_whichever_id_is_tampered(
    me: Any, customer: str, other: str, theirs: dict[str, dict[str, Any]]
) -> None:
    access, explanation = theirs["access"]["id"], theirs["explanation"]["id"]
    paths = [
        f"/api/v1/subjects/{other}/requests",
        f"/api/v1/subjects/{other}/requests/{access}",
        f"/api/v1/subjects/{other}/requests/{access}/export",
        f"/api/v1/subjects/{other}/requests/{access}/export/audit?tree_size=1&after=0",
        f"/api/v1/subjects/{other}/requests/{explanation}/explanation",
        # Their request id under my own subject id:
        f"/api/v1/subjects/{customer}/requests/{access}",
        f"/api/v1/subjects/{customer}/requests/{access}/export",
        f"/api/v1/subjects/{customer}/requests/{access}/export/audit?tree_size=1&after=0",
        f"/api/v1/subjects/{customer}/requests/{explanation}/explanation",
        f"/api/v1/subjects/{customer}/requests/dsr_doesNotExist000000000",
    ]
    for path in paths:
        resp = me.get(path)
        assert resp.status_code == 404, path
        assert VALUES["city"] not in resp.get_data(as_text=True)


def test_a_copy_never_holds_another_customers_values(
    me: Any, customer: str, other: str, theirs: dict[str, dict[str, Any]]
) -> None:
    from tests.requests.conftest import OTHER_VALUES

    made = filed(me, customer, kind="access")
    body = me.get(f"/api/v1/subjects/{customer}/requests/{made['id']}/export").get_data(
        as_text=True
    )
    assert OTHER_VALUES["city"] not in body and other not in body


def test_operators_do_not_use_the_customers_endpoints(
    as_dpo: Any, as_operator: Any, customer: str
) -> None:
    for client in (as_dpo, as_operator("customer_service")):
        assert client.get(f"/api/v1/subjects/{customer}/requests").status_code == 403
        resp = client.post(f"/api/v1/subjects/{customer}/requests", json={"kind": "access"})
        assert resp.status_code == 403
