"""No profile value ever sits in a request row or an audit entry, whatever was asked."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from sqlalchemy import select

from audit.models import AuditEntry
from governance.db import get_session
from governance.requests.models import SubjectRequest
from tests.requests.conftest import VALUES, filed

#: Corrected values, as distinctive as the seeded ones.
NEW_VALUES = {
    "city": "Dsr-更正城市-3H",
    "nickname": "Dsr-更正昵称-3H",
    "email": "dsr.3h@example.com",
}


def test_requests_and_audit_entries_hold_names_and_codes_never_values(
    app: Flask, me: Any, customer: str, as_dpo: Any
) -> None:
    for kind in ("access", "portability", "explanation", "restriction", "restriction_lift"):
        made = filed(me, customer, kind=kind)
        if kind in ("access", "portability"):
            resp = me.get(f"/api/v1/subjects/{customer}/requests/{made['id']}/export")
            assert VALUES["city"] in resp.get_data(as_text=True)  # the copy holds them...
    fix = filed(me, customer, kind="correction", values=NEW_VALUES, fields=["member_level"])
    as_dpo.post(f"/api/v1/requests/{fix['id']}/complete", json={"fields": ["member_level"]})
    erase = filed(me, customer, kind="erasure", confirm=True)
    assert as_dpo.post(f"/api/v1/requests/{erase['id']}/erase").status_code == 200

    with app.app_context():
        session = get_session()
        rows = [
            json.dumps(
                [r.id, r.kind, r.status, r.details, r.result, r.requested_by_id, r.handled_by],
                ensure_ascii=False,
            )
            for r in session.scalars(select(SubjectRequest))
        ]
        audit_rows = [
            json.dumps(
                [e.action, e.resource, e.reasons, e.details, e.subject_id], ensure_ascii=False
            )
            for e in session.scalars(select(AuditEntry))
        ]
    assert len(rows) == 7
    stored = "\n".join(rows + audit_rows)
    # ...the rows and the trail do not.
    for value in [*VALUES.values(), *NEW_VALUES.values()]:
        if isinstance(value, str):
            assert value not in stored, value
    assert "city" in stored and "member_level" in stored  # names are there


def test_the_database_file_holds_no_corrected_value_in_clear(
    app: Flask, me: Any, customer: str, stored_bytes: Any
) -> None:
    filed(me, customer, kind="correction", values=NEW_VALUES)
    raw = stored_bytes()
    for value in NEW_VALUES.values():
        assert value.encode() not in raw, value
