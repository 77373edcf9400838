"""Console pages for the DPO: the audit explorer, one entry with its proof, verification.

- **Explorer** (``/console/audit``): filters (time, actor, subject, purpose, action,
  decision) in a GET form, so a search is a link; entries newest first, keyset-paged on
  ``seq`` (:func:`audit.query.entries_page`). A page may come back short, even empty,
  with a cursor for older entries (filters without an index examine a bounded window):
  the "older" link is shown whenever there is a cursor.
- **Entry** (``/console/audit/<seq>``): every stored column, and the entry's inclusion
  proof checked on the server against the newest signed checkpoint
  (:func:`governance.web.proofs.verify_entry`), step by step. Needs a fresh TOTP.
- **Export** (``/console/audit/export``): the API's streamed CSV or JSON Lines
  (:func:`audit.views.export_response`) with the explorer's filters. Needs a fresh
  TOTP; the export is itself an ``audit.export`` entry, committed before the first byte.
- **Verification** (``/console/verification``): the last run, the recent runs, the
  signed checkpoints, and a form to run a verification now (since the last checkpoint,
  or the whole log).

Times on these pages are UTC, as the log stores them, in the filter form as in the
tables. Audit entries hold ids, codes and field names only: no profile value is shown.
Malformed input (a time, a code, a cursor) answers 400 with the page and a message
for each field; it reads and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import (
    EXCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
)
from werkzeug.wrappers import Response as WerkzeugResponse

import audit
from audit import query
from audit.checkpoint import b64
from audit.log import ACTOR_TYPES, entry_row, format_time, parse_time
from audit.models import DECISIONS
from audit.pii import PiiInAuditEntry
from audit.verifications import latest_verification, run_and_record, verifications_page
from audit.views import export_response, record_export
from governance.auth.permissions import Permission, requires
from governance.db import get_engine, get_session
from governance.web.console import fresh_totp
from governance.web.proofs import verify_entry

bp = Blueprint("console_audit", __name__, url_prefix="/console")

#: Entries per explorer page.
PAGE_SIZE = 50
#: At most this many entries are examined for one page whose filters have no index.
SCAN_WINDOW = query.SCAN_WINDOW
#: Verification runs and checkpoints per page of the verification page.
RUNS_SHOWN = 20
CHECKPOINTS_SHOWN = 20
#: The explorer's filters, in the order of the form.
FILTERS = ("since", "until", "actor_type", "actor_id", "subject", "purpose", "action", "decision")
EXPORT_FORMATS = ("csv", "jsonl")
#: The verification form's choices: scope -> since_checkpoint.
SCOPES = {"since_checkpoint": True, "whole": False}

# The shapes audit.log accepts (as the audit API checks them): a filter that cannot
# match any entry is a mistake to report, not an empty page.
_OPAQUE_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_SUBJECT_ID = r"^sub_[A-Za-z0-9_-]{22}$"
_ACTION = r"^[a-z][a-z0-9_.:-]{0,63}$"
_PURPOSE = r"^[a-z][a-z0-9_]{0,63}$"

#: Who acted, in words (the codes are audit.log.ACTOR_TYPES).
ACTOR_TYPE_LABELS = {
    "operator": _l("Staff (operator)"),
    "service": _l("Service (API key)"),
    "subject": _l("Customer (subject)"),
    "partner": _l("Partner"),
    "system": _l("System"),
    "anonymous": _l("Anonymous"),
}

# Markers the schemas raise, turned into sentences by _problems().
_REPEATED = "repeated"
_ORDER = "order"

#: What is wrong with a field, in words (marshmallow's own messages are not shown).
_FIELD_PROBLEMS = {
    "since": _l("“From” is not a date and time: pick one, or write it as 2026-11-25 10:00."),
    "until": _l("“Until” is not a date and time: pick one, or write it as 2026-11-25 18:00."),
    "actor_type": _l("Choose an actor type from the list."),
    "actor_id": _l("An actor id is 1 to 64 letters, digits, dots, colons, dashes or underscores."),
    "subject": _l("A subject id is “sub_” followed by 22 letters, digits, dashes or underscores."),
    "purpose": _l("A purpose is a code of lower-case letters, digits and underscores."),
    "action": _l("An action is a code such as profile.read."),
    "decision": _l("Choose a decision from the list."),
    "before": _l("The link to older entries is broken; start again from the newest."),
    "runs_before": _l("The link to older runs is broken; start again from the newest."),
    "checkpoints_before": _l("The link to older checkpoints is broken; start again."),
    "format": _l("Choose CSV or JSON Lines."),
    "scope": _l("Choose what to verify: since the last checkpoint, or the whole log."),
}


# -- parsing ---------------------------------------------------------------------------------


class _LogTime(fields.Field[str]):
    """A date and time (a ``datetime-local`` input: UTC unless it names an offset).

    Loads as the log's fixed-width UTC text (:func:`audit.log.format_time`), which
    compares with the stored times as text.
    """

    default_error_messages = {"invalid": "Not a valid date and time."}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        if not isinstance(value, str) or len(value) > 40:
            raise self.make_error("invalid")
        try:
            moment = dt.datetime.fromisoformat(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return format_time(moment)
        except (ValueError, OverflowError):
            raise self.make_error("invalid") from None


def _cursor() -> fields.Integer:
    return fields.Integer(strict=False, validate=validate.Range(min=0, max=query.MAX_SEQ))


class _PageQuery(Schema):
    """Query parameters of a page: empty ones are not given; none may repeat or be unknown."""

    class Meta:
        """Refuse parameters the page does not know."""

        unknown = RAISE

    @pre_load
    def _given(self, data: Any, **_kwargs: Any) -> dict[str, Any]:
        getlist = getattr(data, "getlist", None)
        given: dict[str, Any] = {}
        repeated: dict[str, list[str]] = {}
        for key in data:
            values = getlist(key) if getlist is not None else [data[key]]
            if len(values) > 1:
                repeated[key] = [_REPEATED]
            value = values[0].strip() if isinstance(values[0], str) else values[0]
            if value != "":
                given[key] = value
        if repeated:
            raise ValidationError(repeated)
        return given


class EntryFilterQuery(_PageQuery):
    """The explorer's filters; each one given must match."""

    since = _LogTime()
    until = _LogTime()
    actor_type = fields.String(validate=validate.OneOf(ACTOR_TYPES))
    actor_id = fields.String(validate=validate.Regexp(_OPAQUE_ID))
    subject = fields.String(validate=validate.Regexp(_SUBJECT_ID))
    purpose = fields.String(validate=validate.Regexp(_PURPOSE))
    action = fields.String(validate=validate.Regexp(_ACTION))
    decision = fields.String(validate=validate.OneOf(DECISIONS))

    @post_load
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        if "since" in data and "until" in data and data["until"] < data["since"]:
            raise ValidationError(_ORDER, "until")
        return data


class ExplorerQuery(EntryFilterQuery):
    """Filters and the keyset cursor of the page."""

    before = _cursor()


class ExportQuery(EntryFilterQuery):
    """Filters and the file format."""

    format = fields.String(required=True, validate=validate.OneOf(EXPORT_FORMATS))


class VerificationQuery(_PageQuery):
    """The two cursors of the verification page."""

    runs_before = _cursor()
    checkpoints_before = _cursor()


class RunForm(Schema):
    """The "verify now" form (its CSRF token is checked before the view runs)."""

    class Meta:
        """The CSRF token is not a field of the form's own."""

        unknown = EXCLUDE

    scope = fields.String(load_default="since_checkpoint", validate=validate.OneOf(tuple(SCOPES)))


def _problems(schema: Schema, messages: Any) -> dict[str, str]:
    """One sentence per field in error (the schema's markers become words)."""
    out: dict[str, str] = {}
    if not isinstance(messages, dict):
        messages = {"_schema": messages}
    for name, found in messages.items():
        found = found if isinstance(found, list) else [found]
        if _REPEATED in found:
            out[name] = _("Give “%(name)s” once.", name=name)
        elif _ORDER in found:
            out[name] = _("“Until” must not be before “From”.")
        elif name not in schema.fields:
            out[name] = _("This page has no parameter “%(name)s”.", name=name)
        else:
            out[name] = str(_FIELD_PROBLEMS.get(name, _("This value is not valid.")))
    return out


def _load(schema: Schema, data: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, {})`` or ``({}, problems)``."""
    try:
        return schema.load(data), {}
    except ValidationError as err:
        return {}, _problems(schema, err.messages)


def _given(args: Mapping[str, Any]) -> dict[str, str]:
    """The filters as the operator wrote them (to refill the form and build links)."""
    return {
        name: str(args[name]).strip() for name in FILTERS if str(args.get(name, "")).strip() != ""
    }


# -- template helpers ------------------------------------------------------------------------


def utc(moment: str | None) -> str:
    """A time of the log (``2026-11-25T10:00:00.123456Z``) as ``2026-11-25 10:00:00``."""
    if not moment:
        return ""
    try:
        return parse_time(moment).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return moment


def _pretty(text: str) -> str:
    """Stored JSON text (reasons, details), indented for people."""
    return json.dumps(orjson.loads(text), indent=2, ensure_ascii=False, sort_keys=True)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"utc": utc, "b64": b64, "actor_type_labels": ACTOR_TYPE_LABELS}


# -- the explorer ----------------------------------------------------------------------------


def _explorer(
    given: dict[str, str],
    problems: dict[str, str],
    page: query.EntryPage | None = None,
    *,
    first_page: bool = True,
) -> tuple[str, int]:
    return render_template(
        "console/audit.html",
        active="audit",
        given=given,
        problems=problems,
        page=page,
        first_page=first_page,
        actor_types=ACTOR_TYPES,
        decisions=DECISIONS,
        page_size=PAGE_SIZE,
    ), 400 if problems else 200


@bp.get("/audit")
@requires(Permission.AUDIT_READ)
def entries() -> tuple[str, int]:
    """Audit entries matching the filters, newest first, one keyset page."""
    given = _given(request.args)
    args, problems = _load(ExplorerQuery(), request.args)
    if problems:
        return _explorer(given, problems)
    filters = query.EntryFilter.from_mapping(args)
    page = query.entries_page(
        get_session(),
        filters,
        before=args.get("before"),
        limit=PAGE_SIZE,
        scan_window=SCAN_WINDOW,
    )
    return _explorer(given, {}, page, first_page=args.get("before") is None)


@bp.get("/audit/export")
@requires(Permission.AUDIT_READ)
@fresh_totp
def export() -> Any:
    """The entries matching the filters as a CSV or JSON Lines download; audited first."""
    args, problems = _load(ExportQuery(), request.args)
    if problems:
        return _explorer(_given(request.args), problems)
    filters = query.EntryFilter.from_mapping(args)
    db = get_session()
    try:
        record_export(db, args["format"], args)
    except PiiInAuditEntry:
        # An id that reads as personal data (a phone number as an actor id) cannot be
        # written into the log, so the export it would describe does not happen.
        db.rollback()
        return _explorer(
            _given(request.args),
            {"_schema": _("A filter looks like personal information; search by ids only.")},
        )
    db.commit()  # the export is on record before the first byte leaves
    return export_response(filters, args["format"])


# -- one entry -------------------------------------------------------------------------------


@bp.get("/audit/<int:seq>")
@requires(Permission.AUDIT_READ)
@fresh_totp
def entry(seq: int) -> tuple[str, int]:
    """One entry, every column, and its inclusion proof checked against the signed log."""
    db = get_session()
    row = entry_row(db, seq) if seq <= query.MAX_SEQ else None
    if row is None:
        return render_template("console/audit_entry.html", active="audit", row=None, seq=seq), 404
    # Who looked at which entry's details is itself on record (ids only).
    audit.record(db, action="audit.view", resource="audit_entry", details={"seq": seq})
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = verify_entry(db, app, seq)
    db.commit()  # the view's entry, and a checkpoint signed to cover the entry if needed
    return render_template(
        "console/audit_entry.html",
        active="audit",
        seq=seq,
        row=row,
        reasons=_pretty(row["reasons"]),
        details=_pretty(row["details"]),
        stored_leaf=b64(bytes(row["leaf_hash"])),
        chain_hash=b64(bytes(row["chain_hash"])),
        result=result,
        checkpoint=query.checkpoint_of_size(db, result.tree_size),
    ), 200


# -- verification ----------------------------------------------------------------------------


def _verification(
    problems: dict[str, str], runs_before: int | None = None, cps_before: int | None = None
) -> tuple[str, int]:
    db = get_session()
    runs, runs_next = verifications_page(db, before_id=runs_before, limit=RUNS_SHOWN)
    cps, cps_next = query.checkpoints_page(db, before_id=cps_before, limit=CHECKPOINTS_SHOWN)
    return render_template(
        "console/verification.html",
        active="verification",
        problems=problems,
        last=latest_verification(db),
        runs=runs,
        runs_before=runs_before,
        runs_next=runs_next,
        checkpoints=cps,
        checkpoints_before=cps_before,
        checkpoints_next=cps_next,
    ), 400 if problems else 200


@bp.get("/verification")
@requires(Permission.AUDIT_READ)
def verification() -> tuple[str, int]:
    """The last verification run, the recent ones, the signed checkpoints, "verify now"."""
    args, problems = _load(VerificationQuery(), request.args)
    return _verification(problems, args.get("runs_before"), args.get("checkpoints_before"))


@bp.post("/verification")
@requires(Permission.AUDIT_READ)
def run_verification() -> WerkzeugResponse | tuple[str, int]:
    """Verify the log now, record the run, and show the outcome on the verification page."""
    args, problems = _load(RunForm(), request.form)
    if problems:
        g.return_to = url_for("console_audit.verification")
        return _verification(problems)
    db = get_session()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    _report, run = run_and_record(
        db,
        get_engine(),
        audit.public_keys(),
        origin=audit.log_origin(app),
        since_checkpoint=SCOPES[args["scope"]],
    )
    db.commit()
    if run.ok:
        flash(
            _(
                "The audit log verified: nothing was changed (entries checked: %(entries)s, "
                "checkpoints checked: %(checkpoints)s).",
                entries=run.entries_checked,
                checkpoints=run.checkpoints_checked,
            ),
            "success",
        )
    else:
        flash(
            _(
                "The verification failed: check “%(check)s” did not pass. See the run below.",
                check=run.failure_check,
            ),
            "error",
        )
    return redirect(url_for("console_audit.verification"), 303)
