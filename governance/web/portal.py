"""The consent portal: a customer's own view of their consent, their data's use and rights.

Entered through a one-time signed link: opening it shows a button, and the link is
redeemed only when the customer presses it (a POST with a CSRF token), so link previews in
chat apps cannot use it up. After that the customer has a portal session, and every page
is about them alone: no page takes a subject id, so none can be pointed at someone else.

Pages (server-rendered, no script): the start page; one screen per purpose group
(:mod:`governance.web.purposes`) where each purpose is granted, changed or withdrawn with
one button; privacy notices by version; "who used my data" (:mod:`.activity`) with a
server-side proof check per read (:mod:`.proofs`); rights (copy, correction, erasure,
restriction) filed as data-subject requests; consent receipts. Decisions and requests go
through the same services as the JSON API (:mod:`consent.ledger`,
:mod:`governance.requests.services`); views parse the form, call them and commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from consent import ledger
from consent.catalog.models import CatalogField, PrivacyNotice, Purpose
from consent.models import ConsentEvent
from consent.views import receipt_issuer
from governance.auth import services
from governance.auth.actors import current_actor
from governance.auth.permissions import Permission, public, requires
from governance.auth.views import start_subject_session
from governance.db import get_session, utcnow
from governance.errors import ApiError
from governance.i18n import current_language, keep_language, localized
from governance.keys import portal_link_key
from governance.profiles.models import Subject
from governance.requests import services as dsr
from governance.requests.models import ACTIVE_STATUSES, SubjectRequest
from governance.web import activity, labels, proofs
from governance.web.purposes import (
    GROUPS,
    evidence,
    field_order,
    grant_notice,
    group_of,
    purpose_views,
)

bp = Blueprint("portal", __name__, url_prefix="/portal")

#: Receipts listed per page.
RECEIPTS_PAGE = 50
#: The customer's requests listed on the rights page (newest first).
REQUESTS_SHOWN = 50
_KINDS = ("grant", "withdraw", "refuse")


def _subject_id() -> str:
    return current_actor().id


def _subject() -> Subject:
    subject = get_session().get(Subject, _subject_id())
    if subject is None:  # pragma: no cover - a session is only ever opened for a subject
        abort(404)
    return subject


def _attempt(action: Callable[[], Any], refused: Callable[[ApiError], str]) -> bool:
    """Run ``action``; on a refusal the customer can act on, roll back and flash why."""
    try:
        action()
    except ApiError as exc:
        if exc.problem.slug not in {"consent-refused", "validation-error", "conflict"}:
            raise
        get_session().rollback()
        flash(refused(exc), "error")
        return False
    return True


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 19 else None


# -- entering and leaving --------------------------------------------------------------------


@bp.get("/enter")
@public
def enter_form() -> str:
    """Show the 'continue' button for a portal link."""
    return render_template("portal/enter.html", token=request.args.get("token", ""))


@bp.post("/enter")
@public
def enter() -> WerkzeugResponse:
    """Redeem a portal link (once) and start the customer's session."""
    db = get_session()
    subject_id = services.redeem_portal_token(
        db,
        request.form.get("token", ""),
        portal_link_key(),
        current_app.config["PORTAL_LINK_TTL_SECONDS"],
    )
    subject = db.get(Subject, subject_id)
    if subject is None or subject.erased_at is not None:
        db.rollback()
        raise ApiError("invalid-credentials", "This portal link is not valid.")
    db.commit()
    with keep_language():
        start_subject_session(subject_id)
    return redirect(url_for("portal.home"))


@bp.post("/logout")
@public
def logout() -> WerkzeugResponse:
    """End the portal session."""
    with keep_language():
        session.clear()
    return redirect(url_for("portal.bye"), 303)


@bp.get("/bye")
@public
def bye() -> str:
    """Signed out: how to come back."""
    return render_template("portal/bye.html")


# -- consent ---------------------------------------------------------------------------------


@bp.get("/")
@requires(Permission.PORTAL_ACCESS)
def home() -> str:
    """The start page: purpose groups with where the customer stands, and what needs them."""
    views = purpose_views(get_session(), _subject_id())
    return render_template(
        "portal/home.html",
        groups=[(g_, [v for v in views if v.group == g_]) for g_ in GROUPS],
        reconsent=[v for v in views if v.status == "reconsent"],
        subject=_subject(),
    )


@bp.get("/purposes/<group>")
@requires(Permission.PORTAL_ACCESS)
def purpose_group(group: str) -> str:
    """One group's purposes: what each is for, which data, who receives it, the choices."""
    if group not in GROUPS:
        abort(404)
    db = get_session()
    views = [v for v in purpose_views(db, _subject_id()) if v.group == group]
    return render_template(
        "portal/group.html",
        group=group,
        views=views,
        notice=grant_notice(db, utcnow().date()),
        subject=_subject(),
    )


@bp.post("/decisions")
@requires(Permission.PORTAL_ACCESS)
def decide() -> WerkzeugResponse:
    """Grant (or change the tier of), withdraw or refuse one purpose: one form, one event."""
    db = get_session()
    purpose = db.get(Purpose, request.form.get("purpose", ""))
    kind = request.form.get("kind", "")
    if purpose is None or kind not in _KINDS:
        abort(400)
    subject_id = _subject_id()
    back = url_for("portal.purpose_group", group=group_of(purpose)) + f"#p-{purpose.id}"
    tier = request.form.get("tier") if kind == "grant" else None
    view = next(v for v in purpose_views(db, subject_id) if v.purpose.id == purpose.id)
    option = next((o for o in view.options if o.tier == tier), None)
    if kind == "grant" and option is None:
        flash(_("Choose a level first."), "error")
        return redirect(back, 303)
    notice = grant_notice(db, utcnow().date()) if kind == "grant" else None
    change = ledger.Change(
        subject=subject_id,
        purposes=(purpose.id,),
        kind=kind,
        channel="portal",
        acted_by="subject",
        actor_id=subject_id,
        tier=tier,
        notice_version=notice.version if notice else None,
        evidence_sha256=evidence(
            purpose,
            kind=kind,
            tier=tier,
            notice_version=notice.version if notice else None,
            language=current_language(),
            option=option,
        )
        if kind == "grant"
        else None,
    )

    def record() -> None:
        ledger.record(db, change, receipts=receipt_issuer(db))
        db.commit()

    if _attempt(record, _refusal):
        flash(_decided_message(kind, purpose, tier), "success")
    return redirect(back, 303)


def _refusal(exc: ApiError) -> str:
    reason = getattr(exc, "reason", None)
    if reason:
        return labels.label("refusal", reason)
    return _("That could not be recorded. Please try again.")


def _decided_message(kind: str, purpose: Purpose, tier: str | None) -> str:
    name = localized(purpose, "name")
    if kind == "grant":
        return _(
            "Saved: you agreed to “%(purpose)s” at the %(tier)s level.",
            purpose=name,
            tier=labels.label("tier", tier),
        )
    if kind == "withdraw":
        return _("Saved: you withdrew “%(purpose)s”. It stops now.", purpose=name)
    return _("Saved: you said no to “%(purpose)s”.", purpose=name)


@bp.get("/notices")
@requires(Permission.PORTAL_ACCESS)
def notices() -> str:
    """Every privacy-notice version, newest first."""
    rows = list(
        get_session().scalars(
            select(PrivacyNotice).order_by(
                PrivacyNotice.effective_date.desc(), PrivacyNotice.version.desc()
            )
        )
    )
    return render_template("portal/notices.html", notices=rows, today=utcnow().date())


@bp.get("/notices/<version>")
@requires(Permission.PORTAL_ACCESS)
def notice(version: str) -> str:
    """One privacy-notice version's text."""
    db = get_session()
    row = db.get(PrivacyNotice, version)
    if row is None:
        abort(404)
    names = {p.id: p for p in db.scalars(select(Purpose).where(Purpose.id.in_(row.purposes)))}
    return render_template(
        "portal/notice.html",
        notice=row,
        purposes=[names[p] for p in row.purposes if p in names],
        groups={p.id: group_of(p) for p in names.values()},
        today=utcnow().date(),
    )


# -- who used my data ------------------------------------------------------------------------


def _field_labels() -> dict[str, CatalogField]:
    return {f.name: f for f in get_session().scalars(select(CatalogField))}


def _purpose_names() -> dict[str, Purpose]:
    return {p.id: p for p in get_session().scalars(select(Purpose))}


@bp.get("/activity")
@requires(Permission.PORTAL_ACCESS)
def activity_page() -> str:
    """Reads of the customer's data, newest first, and the exports that included them."""
    db = get_session()
    before = _int_arg("before")
    reads, next_before = activity.reads_of(db, _subject_id(), before=before)
    return render_template(
        "portal/activity.html",
        reads=reads,
        next_before=next_before,
        first_page=before is None,
        exports=activity.exports_of(db, _subject_id()) if before is None else [],
        fields=_field_labels(),
        purposes=_purpose_names(),
    )


@bp.post("/activity/<int:seq>/verify")
@requires(Permission.PORTAL_ACCESS)
def verify(seq: int) -> str:
    """Check one read's inclusion proof against the newest signed checkpoint."""
    db = get_session()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = proofs.verify_entry(db, app, seq, subject=_subject_id())
    db.commit()  # a checkpoint signed for it, if one was needed
    reads, _next = activity.reads_of(db, _subject_id(), before=seq + 1, limit=1)
    g.return_to = url_for("portal.activity_page")
    return render_template(
        "portal/verify.html",
        result=result,
        read=reads[0] if reads and reads[0].seq == seq else None,
        fields=_field_labels(),
        purposes=_purpose_names(),
    )


# -- rights ----------------------------------------------------------------------------------


def _requests() -> list[SubjectRequest]:
    return list(
        get_session().scalars(
            select(SubjectRequest)
            .where(SubjectRequest.subject_id == _subject_id())
            .order_by(SubjectRequest.created_at.desc(), SubjectRequest.id.desc())
            .limit(REQUESTS_SHOWN)
        )
    )


def _file(submission: dsr.Submission) -> SubjectRequest | None:
    """File a request for the customer; None (and a message) if it was refused."""
    db = get_session()
    filed: list[SubjectRequest] = []

    def submit() -> None:
        filed.append(
            dsr.submit(
                db,
                current_actor(),
                _subject_id(),
                submission,
                due_days=current_app.config["SUBJECT_REQUEST_DUE_DAYS"],
            )
        )
        db.commit()

    return filed[0] if _attempt(submit, _request_refusal) else None


def _request_refusal(exc: ApiError) -> str:
    if exc.problem.slug == "conflict" and exc.members.get("request"):
        return _("You already have a request of this kind in progress; see its status below.")
    if exc.problem.slug == "conflict":
        return _("Nothing to change: this is already the case.")
    if exc.errors:
        names = _field_labels()
        shown = [localized(names[n], "label") if n in names else n for n in sorted(exc.errors)]
        return _("These could not be accepted: %(fields)s.", fields=", ".join(shown))
    return _("That could not be accepted. Please check and try again.")


@bp.get("/rights")
@requires(Permission.PORTAL_ACCESS)
def rights() -> str:
    """Your rights: a copy, a correction, erasure, restriction; your requests' status."""
    rows = _requests()
    now = utcnow()
    return render_template(
        "portal/rights.html",
        requests=rows,
        overdue={
            r.id for r in rows if r.status in ACTIVE_STATUSES and ledger.as_utc(r.due_at) < now
        },
        subject=_subject(),
        export_kinds={"access", "portability"},
    )


@bp.post("/rights/access")
@requires(Permission.PORTAL_ACCESS)
def request_access() -> WerkzeugResponse:
    """Ask for a copy of my data (answered at once; downloaded from the list)."""
    if _file(dsr.Submission(kind="access")) is not None:
        flash(_("Your copy is ready: download it from your requests below."), "success")
    return redirect(url_for("portal.rights") + "#requests", 303)


@bp.post("/rights/restriction")
@requires(Permission.PORTAL_ACCESS)
def request_restriction() -> WerkzeugResponse:
    """Restrict processing, or lift the restriction (both take effect at once)."""
    lift = request.form.get("action") == "lift"
    if _file(dsr.Submission(kind="restriction_lift" if lift else "restriction")) is not None:
        flash(
            _("Processing is allowed again.")
            if lift
            else _("Processing is restricted: from now on only you can see your data."),
            "success",
        )
    return redirect(url_for("portal.rights"), 303)


def _correctable() -> tuple[list[CatalogField], list[CatalogField]]:
    """(fields the customer sets themselves, fields the brand keeps from its records)."""
    fields = sorted(get_session().scalars(select(CatalogField)), key=field_order)
    kept = [f for f in fields if f.category in dsr.BRAND_KEPT_CATEGORIES]
    own = [f for f in fields if f.category not in dsr.BRAND_KEPT_CATEGORIES and not f.free_text]
    return own, kept


@bp.get("/rights/correction")
@requires(Permission.PORTAL_ACCESS)
def correction_form() -> str:
    """Correct what you told us; ask us to check what we keep from our records."""
    own, kept = _correctable()
    return render_template(
        "portal/correction.html", own=own, kept=kept, reasons=labels.REQUEST_REASONS
    )


def _typed(field: CatalogField, raw: str) -> Any:
    if field.value_type == "integer" and raw.strip().lstrip("-").isdigit():
        return int(raw.strip())
    return raw.strip()


@bp.post("/rights/correction")
@requires(Permission.PORTAL_ACCESS)
def request_correction() -> Any:
    """File a correction: values set now, records for the DPO to check."""
    own, kept = _correctable()
    values = {
        f.name: _typed(f, request.form[f"value-{f.name}"])
        for f in own
        if request.form.get(f"value-{f.name}", "").strip()
    }
    allowed = {f.name for f in kept}
    review = [n for n in request.form.getlist("review") if n in allowed]
    reason = request.form.get("reason") or None
    if reason not in labels.REQUEST_REASONS:
        reason = None
    if not values and not review:
        flash(_("Enter a new value or tick something for us to check."), "error")
        return redirect(url_for("portal.correction_form"), 303)
    filed = _file(
        dsr.Submission(kind="correction", reason=reason, values=values, fields=tuple(review))
    )
    if filed is None:
        return redirect(url_for("portal.correction_form"), 303)
    flash(
        _("Your correction was saved.")
        if filed.status == "completed"
        else _("We received your request and will check our records by the due date."),
        "success",
    )
    return redirect(url_for("portal.rights") + "#requests", 303)


@bp.get("/rights/erasure")
@requires(Permission.PORTAL_ACCESS)
def erasure_form() -> str:
    """What erasure means, and a confirmation."""
    return render_template("portal/erasure.html", reasons=labels.REQUEST_REASONS)


@bp.post("/rights/erasure")
@requires(Permission.PORTAL_ACCESS)
def request_erasure() -> Any:
    """File an erasure request, only when the customer confirmed it."""
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm that you understand, then send the request."), "error")
        return redirect(url_for("portal.erasure_form"), 303)
    reason = request.form.get("reason") or None
    if reason not in labels.REQUEST_REASONS:
        reason = None
    if _file(dsr.Submission(kind="erasure", reason=reason, confirm=True)) is None:
        return redirect(url_for("portal.rights") + "#requests", 303)
    flash(_("We received your erasure request. We will tell you when it is done."), "success")
    return redirect(url_for("portal.rights") + "#requests", 303)


# -- receipts --------------------------------------------------------------------------------


@bp.get("/receipts")
@requires(Permission.PORTAL_ACCESS)
def receipts() -> str:
    """Every signed receipt of the customer's grants and withdrawals, newest first."""
    before = _int_arg("before")
    query = select(ConsentEvent).where(
        ConsentEvent.subject_id == _subject_id(), ConsentEvent.receipt_id.is_not(None)
    )
    if before is not None:
        query = query.where(ConsentEvent.id < before)
    rows = list(
        get_session().scalars(query.order_by(ConsentEvent.id.desc()).limit(RECEIPTS_PAGE + 1))
    )
    more = len(rows) > RECEIPTS_PAGE
    rows = rows[:RECEIPTS_PAGE]
    return render_template(
        "portal/receipts.html",
        events=rows,
        next_before=rows[-1].id if more else None,
        purposes=_purpose_names(),
        as_utc=ledger.as_utc,
    )
