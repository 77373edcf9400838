"""Log lines and audit entries go through the same detector."""

# Chinese text is written with full-width punctuation, as customers write it.
# ruff: noqa: RUF001
from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import PiiInAuditEntry, pii
from audit.log import append
from governance.logs import JsonFormatter
from tests.pii.fictional import resident_id

MOBILE = "13900004321"
ID = resident_id("110105", "19900307", "123")
EMAIL = "zhang.san@example.com"


def test_pii_in_a_log_message_and_its_extras_never_reaches_the_line() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.pii.seeded")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "客户%s致电，身份证%s",
            MOBILE,
            ID,
            extra={"contact": EMAIL, "notes": [f"回拨{MOBILE}"], "nested": {"id": ID}},
        )
    finally:
        logger.removeHandler(handler)
    line = stream.getvalue()
    for value in (MOBILE, ID, EMAIL, MOBILE[3:7], ID[6:14]):
        assert value not in line
    payload = json.loads(line)
    assert payload["message"] == f"客户139****4321致电，身份证1{'*' * 16}{ID[-1]}"
    assert payload["contact"] == "*****.***@*******.***"
    assert payload["notes"] == ["回拨139****4321"]
    assert payload["nested"] == {"id": f"1{'*' * 16}{ID[-1]}"}


def test_a_log_line_without_pii_is_unchanged() -> None:
    record = logging.makeLogRecord(
        {"msg": "request", "levelname": "INFO", "name": "x", "endpoint": "api.read", "status": 200}
    )
    payload = json.loads(JsonFormatter().format(record))
    assert (payload["message"], payload["endpoint"], payload["status"]) == (
        "request",
        "api.read",
        200,
    )


def test_the_app_checks_audit_entries_with_this_detector(app: Flask) -> None:
    with app.app_context():
        assert pii.get_detector().__name__ == "audit_detector"


@pytest.mark.parametrize(
    ("note", "kind"),
    [
        ("plate 京A12345", "CN_LICENSE_PLATE"),  # beyond what the simple detector knows
        ("护照号E12345678", "CN_PASSPORT"),
        (f"客户{MOBILE}", "CN_MOBILE"),
    ],
)
def test_an_audit_entry_with_pii_is_refused(db: Any, note: str, kind: str) -> None:
    with pytest.raises(PiiInAuditEntry, match=rf"details\.note: {kind} at"):
        append(db, action="test.note", actor_type="system", actor_id="cli", details={"note": note})


def test_audit_details_made_of_ids_pass(db: Any) -> None:
    append(
        db,
        action="profile.read",
        actor_type="service",
        actor_id="svc_marketing_3",
        subject="sub_Ab3dE5fGh7iJk9LmN0pQrS",
        request_id="5f13912345678a0c3e9f0b1d2c3e4f5a",
        policy_hash="3f" * 32,
        details={"fields": ["mobile", "email"], "n": 2, "order": "2026112512345678"},
    )


_TEXT = st.text(alphabet=st.sampled_from("0123456789 -+@._abcXE京A客户号手机\n"), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["resource", "details"]), st.lists(_TEXT, max_size=4)))
def test_the_audit_one_pass_check_loses_nothing_with_this_detector(
    fields: dict[str, list[str]],
) -> None:
    """The audit check scans all strings joined by line breaks: no pattern crosses one."""
    from governance.pii import audit_detector

    per_string = [
        finding
        for name, value in fields.items()
        for _where, text in pii._strings(value, name)
        for finding in audit_detector(text)
    ]
    assert len(pii.find_pii(fields, audit_detector)) == len(per_string)
