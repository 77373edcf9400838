"""The consent portal's entry: a one-time signed link opens a customer's session.

Opening the link shows a button; the link is redeemed only when the customer presses it
(a POST with a CSRF token), so link previews in chat apps cannot use it up.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from consent.catalog.models import Purpose
from governance.auth import services
from governance.auth.permissions import Permission, public, requires
from governance.auth.views import start_subject_session
from governance.db import get_session
from governance.errors import ApiError
from governance.keys import portal_link_key
from governance.profiles.models import Subject

bp = Blueprint("portal", __name__, url_prefix="/portal")


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
    start_subject_session(subject_id)
    return redirect(url_for("portal.home"))


@bp.get("/")
@requires(Permission.PORTAL_ACCESS)
def home() -> str:
    """The customer's start page: the purposes their data may be used for."""
    lang = "en" if request.args.get("lang") == "en" else "zh"
    purposes = list(get_session().scalars(select(Purpose).order_by(Purpose.id)))
    return render_template("portal/home.html", purposes=purposes, lang=lang)


@bp.post("/logout")
@public
def logout() -> Any:
    """End the portal session."""
    session.clear()
    return render_template("portal/bye.html")
