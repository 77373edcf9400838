"""Every form of the console carries a CSRF token, and refuses a missing or forged one.

The pages are walked as a DPO with work to act on (an open request in the queue), so each
kind of console form is on a page: verify now, start / complete / reject a request, sign
out, the language switch, step-up, and the sign-in forms. Each is posted without a token
and with a forged one: 403 every time, and nothing in the database changes.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from tests.compliance import builders as b
from tests.web.conftest import csrf_of, parse

PAGES = (
    "/console/",
    "/console/audit",
    "/console/verification",
    "/console/charts",
    "/console/self-check",
    "/console/requests",
    "/console/agreements",
    "/console/step-up",
)


def _post_forms(client: Any, paths: tuple[str, ...]) -> list[dict[str, Any]]:
    forms: dict[str, dict[str, Any]] = {}
    for path in paths:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        for form in parse(resp.get_data(as_text=True)).forms:
            if form["method"] == "post":
                forms.setdefault(form["action"] or path, {**form, "action": form["action"] or path})
    return list(forms.values())


def test_every_console_form_carries_a_csrf_token_and_refuses_a_missing_one(
    app: Flask, as_operator: Any, within: Any, db_snapshot: Any
) -> None:
    request_id = within(lambda s: b.subject_request(s, due_in_days=3, kind="correction"))
    dpo = as_operator("dpo").client
    forms = _post_forms(dpo, PAGES)
    actions = {f["action"] for f in forms}
    assert {
        "/console/verification",
        f"/console/requests/{request_id}/start",
        f"/console/requests/{request_id}/complete",
        f"/console/requests/{request_id}/reject",
        "/console/logout",
        "/console/step-up",
        "/lang",
    } <= actions
    anonymous = app.test_client()
    sign_in = _post_forms(anonymous, ("/console/login",))
    assert {f["action"] for f in sign_in} >= {"/console/login"}
    for form in forms + sign_in:
        assert form["fields"].get("csrf_token"), f"{form['action']} has no CSRF token"

    before = db_snapshot()
    for client, form in [(dpo, f) for f in forms] + [(anonymous, f) for f in sign_in]:
        data = {k: v for k, v in form["fields"].items() if k != "csrf_token" and v is not None}
        data.setdefault("code", "123456")
        for token in (None, "forged-token"):
            sent = data if token is None else {**data, "csrf_token": token}
            resp = client.post(form["action"], data=sent)
            assert resp.status_code == 403, (form["action"], token, resp.status_code)
    assert db_snapshot() == before
    # The same form with the page's own token goes through (the 403s were the tokens).
    token = csrf_of(dpo.get("/console/requests").get_data(as_text=True))
    resp = dpo.post(f"/console/requests/{request_id}/start", data={"csrf_token": token})
    assert resp.status_code == 302
    assert db_snapshot() != before
