"""Console pages: the compliance self-check and its report, the request queue, agreements.

- ``/console/self-check`` (audit:read): every check of :mod:`governance.compliance` with
  its status, count, a plain explanation, where to act, and detail rows (ids, names,
  codes, counts, dates; never a profile value);
- ``/console/self-check/report`` (audit:read, a fresh second factor): the same as a
  standalone HTML document to save or print to PDF, stating when, by whom and at which
  audit head it was made; its generation is an audit entry, committed before the answer;
- ``/console/requests`` (subject-requests:manage): the data-subject request queue of the
  operator's brand, oldest due first, with start / complete / reject forms that go through
  :func:`governance.requests.services.transition` (an erasure is executed through the API);
- ``/console/agreements`` (federated:manage): partners of the operator's brand and their
  agreements with a status (draft, not yet valid, active, expired, revoked).

The blueprint also carries ``governance compliance selfcheck [--json]``, the same
checks for a terminal or a monitoring job (exit status 1 while any check is failing).

Views parse, call services and render; the rules live in the services.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import click
from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

import audit
from audit.checkpoint import b64
from audit.log import log_size, root_at
from federated.governance.models import Agreement, Partner
from governance.auth.actors import current_actor
from governance.auth.models import Operator
from governance.auth.permissions import Permission, requires
from governance.compliance import CheckItem, SelfCheck, SelfCheckConfig, run_selfcheck
from governance.db import get_session, utcnow
from governance.errors import ApiError
from governance.i18n import day, when
from governance.requests import services as dsr
from governance.requests.models import STATUSES, SubjectRequest
from governance.web.console import fresh_totp
from governance.web.labels import label
from policies.inputs import LOCAL_ZONE

bp = Blueprint("console_compliance", __name__, url_prefix="/console", cli_group="compliance")

#: Requests per page of the queue.
QUEUE_PAGE = 50
#: Agreements listed at most (partners are few; the page says when more exist).
AGREEMENTS_LIMIT = 500

TITLES: dict[str, Any] = {
    "denials": _l("Processing refused for want of a valid basis"),
    "reconsent": _l("Grants waiting for re-consent after a notice change"),
    "agreements": _l("Partner agreements expired or ending soon"),
    "catalog": _l("Catalog fields without classification or retention"),
    "retention": _l("Data kept past its retention period"),
    "requests": _l("Overdue data-subject requests"),
    "dead_letters": _l("Consent-change webhooks not delivered"),
    "keys": _l("Key rotation age"),
    "verification": _l("Last audit verification"),
}
EXPLANATIONS: dict[str, Any] = {
    "denials": _l(
        "Reads and uses the policy refused in the window, by reason: someone tried to "
        "process data without valid consent or permission. Refusals are the platform "
        "working; many of one reason point to a service or campaign to fix."
    ),
    "reconsent": _l(
        "Customers whose grant predates a material change of the privacy notice for the "
        "purpose: their data is not used for it until they consent again."
    ),
    "agreements": _l(
        "An approved agreement past its end date must be renewed or revoked; one ending "
        "soon needs renewing before then. Runs under an expired agreement are refused."
    ),
    "catalog": _l(
        "Every profile field needs a classification and a retention period; fix the "
        "catalog file and load it again."
    ),
    "retention": _l(
        "Values not updated for longer than their field's retention period (counts per "
        "field, no values): delete them or record why they are kept (PIPL art. 19)."
    ),
    "requests": _l(
        "Requests still open or in progress after their due date: answer them now (PIPL art. 50)."
    ),
    "dead_letters": _l(
        "Consent changes a subscriber never received after every retry: the subscriber "
        "may still act on a withdrawn consent. Fix the endpoint, then retry them."
    ),
    "keys": _l(
        "Time since each key file was last written, against the maximum age. Rotate a "
        "key that is older."
    ),
    "verification": _l(
        "The audit log's hash chain, Merkle tree and signed checkpoints are checked by a "
        "verification run. None yet, a stale one or a failure needs action."
    ),
}
WHERE: dict[str, Any] = {
    "denials": _l("Audit log, filtered by decision 'deny'."),
    "reconsent": _l("Portal (customers are asked again); governance consent sweep."),
    "agreements": _l("Partner agreements page; /api/v1/federated/agreements."),
    "catalog": _l("The catalog file; governance catalog load."),
    "retention": _l("Profile API; the data owners of each field."),
    "requests": _l("Requests page; /api/v1/requests."),
    "dead_letters": _l("Webhooks API: /api/v1/consent/webhooks/dead-letters (retry or discard)."),
    "keys": _l("governance keys rotate-kek; governance consent rotate-receipt-key."),
    "verification": _l("Verification page; governance audit verify."),
}
#: The console page where a check is acted on, and the permission it needs.
LINKS: dict[str, tuple[str, Permission]] = {
    "denials": ("console_audit.entries", Permission.AUDIT_READ),
    "agreements": ("console_compliance.agreements", Permission.FEDERATED_MANAGE),
    "requests": ("console_compliance.requests", Permission.SUBJECT_REQUESTS_MANAGE),
    "verification": ("console_audit.verification", Permission.AUDIT_READ),
}
STATUS_TEXT: dict[str, Any] = {
    "ok": _l("OK"),
    "attention": _l("Needs attention"),
    "failing": _l("Failing"),
}
COLUMNS: dict[str, Any] = {
    "reason": _l("Reason"),
    "count": _l("Count"),
    "purpose": _l("Purpose"),
    "changed": _l("Changed"),
    "agreement": _l("Agreement"),
    "partner": _l("Partner"),
    "valid_until": _l("Valid until"),
    "state": _l("State"),
    "field": _l("Field"),
    "missing": _l("Missing"),
    "retention_days": _l("Retention (days)"),
    "oldest": _l("Oldest"),
    "request": _l("Request"),
    "kind": _l("Type"),
    "status": _l("Status"),
    "due": _l("Due"),
    "days_overdue": _l("Days overdue"),
    "subscription": _l("Subscription"),
    "name": _l("Name"),
    "key": _l("Key"),
    "age_days": _l("Age (days)"),
    "max_days": _l("Maximum (days)"),
    "finished": _l("Finished"),
    "ok": _l("Result"),
    "tree_size": _l("Tree size"),
    "failure_check": _l("Failed check"),
}
STATES: dict[str, Any] = {
    "expired": _l("expired"),
    "expiring": _l("ending soon"),
    "old": _l("too old"),
    "unreadable": _l("cannot be read"),
    "external": _l("held outside the platform, not measured here"),
    "ok": _l("ok"),
    "classification": _l("classification"),
    "retention": _l("retention"),
}


def _cell(column: str, value: Any) -> str:
    """One detail value as text for people."""
    if value is None:
        return "—"
    if column == "ok":
        return _("passed") if value else _("failed")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dt.datetime):
        return when(value)
    if isinstance(value, dt.date):
        return day(value)
    if isinstance(value, list):
        return _(", ").join(str(STATES.get(v, v)) for v in value)
    if column == "state":
        return str(STATES.get(value, value))
    if column == "status":
        return f"{label('request_status', value)} ({value})"
    if column == "kind":
        return f"{label('request_kind', value)} ({value})"
    return str(value)


def _link(key: str) -> str | None:
    """The console page to act on check ``key``, if there is one the operator may open."""
    endpoint, permission = LINKS.get(key, ("", Permission.AUDIT_READ))
    if endpoint not in current_app.view_functions or not current_actor().can(permission):
        return None
    return url_for(endpoint)


def present(item: CheckItem) -> dict[str, Any]:
    """What a template shows of ``item``: texts, headers and rows as strings."""
    columns = list(item.rows[0]) if item.rows else []
    return {
        "key": item.key,
        "status": item.status,
        "status_text": STATUS_TEXT[item.status],
        "count": item.count,
        "title": TITLES[item.key],
        "explanation": EXPLANATIONS[item.key],
        "where": WHERE[item.key],
        "headers": [COLUMNS.get(c, c) for c in columns],
        "rows": [[_cell(c, row.get(c)) for c in columns] for row in item.rows],
        "more": item.more,
        "link": _link(item.key),
    }


def _selfcheck() -> SelfCheck:
    return run_selfcheck(get_session(), SelfCheckConfig.from_app(current_app), utcnow())


def _context(check: SelfCheck) -> dict[str, Any]:
    return {
        "check": check,
        "status_text": STATUS_TEXT[check.status],
        "items": [present(i) for i in check.items],
    }


@bp.get("/self-check")
@requires(Permission.AUDIT_READ)
def selfcheck() -> str:
    """Every compliance check with its status, count and details."""
    return render_template("console/selfcheck.html", active="selfcheck", **_context(_selfcheck()))


def _report_policy(css: str) -> str:
    """A Content-Security-Policy for the report: its own inline style, nothing else."""
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode("ascii")
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    )


@bp.get("/self-check/report")
@requires(Permission.AUDIT_READ)
@fresh_totp
def report() -> Response:
    """The self-check as a standalone HTML document (a download; ``?inline=1`` to print)."""
    session = get_session()
    check = _selfcheck()
    actor = current_actor()
    appended = audit.record(
        session, action="compliance.report", resource="self_check", details=check.summary()
    )
    size = log_size(session)
    head = {"tree_size": size, "root": b64(root_at(session, size)), "seq": appended.seq}
    operator = session.get(Operator, int(actor.id)) if actor.type == "operator" else None
    css = render_template("console/selfcheck_report.css")
    body = render_template(
        "console/selfcheck_report.html",
        report_css=css,
        head=head,
        operator_id=actor.id,
        username=operator.username if operator is not None else actor.display_name,
        **_context(check),
    )
    session.commit()
    stamp = check.generated_at.strftime("%Y%m%dT%H%M%SZ")
    inline = request.args.get("inline") == "1"
    disposition = "inline" if inline else "attachment"
    return Response(
        body,
        mimetype="text/html",
        headers={
            "Content-Disposition": f'{disposition}; filename="self-check-{stamp}.html"',
            "Cache-Control": "no-store",
            "Content-Security-Policy": _report_policy(css),
        },
    )


# -- the request queue ---------------------------------------------------------------------


def _queue_row(row: SubjectRequest, now: dt.datetime) -> dict[str, Any]:
    due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=dt.UTC)
    left = due - now
    active = row.status in ("open", "in_progress")
    return {
        "row": row,
        "overdue": active and left.total_seconds() < 0,
        "days": abs(left.days) if left.total_seconds() >= 0 else (-left).days,
        "active": active,
    }


@bp.get("/requests")
@requires(Permission.SUBJECT_REQUESTS_MANAGE)
def requests() -> Any:
    """The data-subject request queue, oldest due first, filtered by status."""
    status = request.args.get("status") or None
    if status not in (None, *STATUSES):
        flash(_("There is no such status; showing the open requests."), "error")
        return redirect(url_for(".requests"))
    after = request.args.get("after") or None
    now = utcnow()
    try:
        page = dsr.queue(
            get_session(),
            current_actor().brand,
            dsr.QueueFilter(status=status),
            after=after,
            limit=QUEUE_PAGE,
            now=now,
        )
    except ApiError:
        flash(_("That page link is not valid; showing the first page."), "error")
        return redirect(url_for(".requests", status=status))
    return render_template(
        "console/requests.html",
        active="requests",
        rows=[_queue_row(r, now) for r in page.rows],
        next_cursor=page.next,
        status=status,
        statuses=STATUSES,
        reject_reasons=dsr.REJECT_REASONS,
    )


def _move(request_id: str, to: str, **kwargs: Any) -> WerkzeugResponse:
    session = get_session()
    try:
        dsr.transition(session, current_actor(), request_id, to, **kwargs)
    except ApiError as exc:
        session.rollback()
        flash(_("The request was not changed: %(why)s", why=exc.detail), "error")
    else:
        session.commit()
        flash(
            _(
                "Request %(id)s is now: %(status)s.",
                id=request_id,
                status=label("request_status", to),
            )
        )
    return redirect(url_for(".requests", status=request.form.get("status") or None))


@bp.post("/requests/<string:request_id>/start")
@requires(Permission.SUBJECT_REQUESTS_MANAGE)
def start_request(request_id: str) -> WerkzeugResponse:
    """Take an open request on."""
    return _move(request_id, "in_progress")


@bp.post("/requests/<string:request_id>/complete")
@requires(Permission.SUBJECT_REQUESTS_MANAGE)
def complete_request(request_id: str) -> WerkzeugResponse:
    """Complete an open or in-progress request (not an erasure)."""
    return _move(request_id, "completed", note=request.form.get("note") or None)


@bp.post("/requests/<string:request_id>/reject")
@requires(Permission.SUBJECT_REQUESTS_MANAGE)
def reject_request(request_id: str) -> WerkzeugResponse:
    """Turn a request down with a reason code."""
    reason = request.form.get("reason", "")
    if reason not in dsr.REJECT_REASONS:
        # As the API does: a reason the list does not hold is refused, nothing changes.
        flash(_("The request was not changed: choose a reason from the list."), "error")
        return redirect(url_for(".requests", status=request.form.get("status") or None))
    return _move(request_id, "rejected", reason=reason, note=request.form.get("note") or None)


# -- partner agreements --------------------------------------------------------------------


def agreement_status(agreement: Agreement, today: dt.date) -> str:
    """draft, revoked, upcoming (approved, not yet valid), expired or active."""
    if agreement.status != "approved":
        return agreement.status
    if agreement.valid_until < today:
        return "expired"
    if agreement.valid_from > today:
        return "upcoming"
    return "active"


AGREEMENT_STATUS_TEXT: Mapping[str, Any] = {
    "draft": _l("draft"),
    "revoked": _l("revoked"),
    "upcoming": _l("approved, not yet valid"),
    "expired": _l("expired"),
    "active": _l("active"),
}


@bp.get("/agreements")
@requires(Permission.FEDERATED_MANAGE)
def agreements() -> str:
    """Partners and their agreements with a status; expired ones flagged."""
    actor = current_actor()
    query = (
        select(Partner, Agreement)
        .outerjoin(Agreement, Agreement.partner_id == Partner.id)
        .order_by(Partner.name, Partner.id, Agreement.valid_until, Agreement.id)
        .limit(AGREEMENTS_LIMIT + 1)
    )
    if actor.brand is not None:
        query = query.where(Partner.brand_id == actor.brand)
    found = get_session().execute(query).all()
    today = utcnow().astimezone(LOCAL_ZONE).date()
    rows = [
        {
            "partner": partner,
            "agreement": agreement,
            "status": None if agreement is None else agreement_status(agreement, today),
        }
        for partner, agreement in found[:AGREEMENTS_LIMIT]
    ]
    return render_template(
        "console/agreements.html",
        active="agreements",
        rows=rows,
        more=len(found) > AGREEMENTS_LIMIT,
        status_text=AGREEMENT_STATUS_TEXT,
    )


# -- the command ---------------------------------------------------------------------------


@bp.cli.command("selfcheck")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def selfcheck_command(as_json: bool) -> None:
    """Run the compliance self-check; exit status 1 while any check is failing."""
    check = _selfcheck()
    if as_json:
        click.echo(json.dumps(check.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"self-check {check.generated_at.isoformat()}: {check.status}")
        for item in check.items:
            click.echo(f"  {item.key:<14} {item.status:<10} {item.count}")
    if check.status == "failing":
        raise SystemExit(1)
