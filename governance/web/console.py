"""The operators' console: sign-in, second factor, step-up and the home page.

Sign-in is a password, then a TOTP code; an operator without one enrols at first sign-in.

The half-signed-in state (password checked, second factor not yet) lives in the session
as ``pending_operator_id``; it is not an actor and grants nothing but the TOTP pages.

Every console page extends ``console/_layout.html``: the navigation (:data:`NAV`, only
the pages the operator's roles open, only pages that are registered) and an alert on
every page while the last audit verification failed. Views that show sensitive details
or export data carry :func:`fresh_totp`: without a TOTP code entered in the last
:data:`STEP_UP_MINUTES`, they send the operator to the step-up page and back.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from werkzeug.wrappers import Response as WerkzeugResponse

from audit.models import AuditVerification
from audit.verifications import latest_verification
from consent.catalog.models import CatalogField, Purpose
from governance.auth import ratelimit, services, signals
from governance.auth.actors import STEP_UP_MINUTES, current_actor
from governance.auth.models import ApiKey, Operator
from governance.auth.permissions import Permission, public, requires
from governance.auth.views import start_operator_session
from governance.db import get_session, utcnow
from governance.i18n import keep_language
from governance.keys import Keyring
from governance.profiles.crypto import profile_crypto
from governance.web.common import safe_next

bp = Blueprint("console", __name__, url_prefix="/console")
_PENDING_MINUTES = 5

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class NavItem:
    """One console page in the navigation, shown to operators holding ``permission``."""

    key: str
    endpoint: str
    text: Any  # a lazy translation
    permission: Permission


NAV: tuple[NavItem, ...] = (
    NavItem("home", "console.home", _l("Overview"), Permission.CONSOLE_ACCESS),
    NavItem("audit", "console_audit.entries", _l("Audit"), Permission.AUDIT_READ),
    NavItem(
        "verification", "console_audit.verification", _l("Verification"), Permission.AUDIT_READ
    ),
    NavItem("charts", "console_charts.charts", _l("Charts"), Permission.AUDIT_READ),
    NavItem("selfcheck", "console_compliance.selfcheck", _l("Self-check"), Permission.AUDIT_READ),
    NavItem(
        "requests",
        "console_compliance.requests",
        _l("Requests"),
        Permission.SUBJECT_REQUESTS_MANAGE,
    ),
    NavItem(
        "agreements",
        "console_compliance.agreements",
        _l("Partner agreements"),
        Permission.FEDERATED_MANAGE,
    ),
)


def console_nav() -> list[NavItem]:
    """The console pages the current operator may open."""
    actor = current_actor()
    return [
        item
        for item in NAV
        if actor.can(item.permission) and item.endpoint in current_app.view_functions
    ]


def verification_alert() -> AuditVerification | None:
    """The last verification run if it failed and the operator may read the audit."""
    if not current_actor().can(Permission.AUDIT_READ):
        return None
    last = latest_verification(get_session())
    return last if last is not None and not last.ok else None


def fresh_totp(view: F) -> F:
    """Send the operator to the step-up page unless a TOTP code was entered lately.

    The step-up page returns to the page asked for (a GET); put it under
    :func:`governance.auth.permissions.requires`, which decides who may ask at all.
    """

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_actor().mfa_within(STEP_UP_MINUTES):
            path = request.full_path[:-1] if request.full_path.endswith("?") else request.full_path
            return redirect(url_for("console.step_up", next=path))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _keyring() -> Keyring:
    return profile_crypto().keyring


def _client_id() -> str:
    return request.remote_addr or "unknown"


def _digest(value: str) -> str:
    # Rate-limit counters are keyed by a digest, so usernames never sit in the store.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _pending_operator() -> Operator | None:
    op_id = session.get("pending_operator_id")
    until = session.get("pending_until", 0)
    if op_id is None or until < utcnow().timestamp():
        return None
    return get_session().get(Operator, op_id)


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Any:
    """Sign in with username and password; the second factor follows."""
    if request.method == "GET":
        return render_template("console/login.html")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    ratelimit.hit("console-login", _client_id(), _digest(username.lower()))
    db = get_session()
    operator = services.verify_password(db, username, password) if username else None
    if operator is None:
        db.commit()  # the failed attempt's audit entry
        flash(_("Wrong username or password."), "error")
        return render_template("console/login.html"), 401
    with keep_language():
        session.clear()
    session["pending_operator_id"] = operator.id
    session["pending_until"] = int(utcnow().timestamp()) + _PENDING_MINUTES * 60
    if operator.totp_enabled_at is None:
        return redirect(url_for("console.totp_enrol"))
    return redirect(url_for("console.totp"))


@bp.route("/login/totp", methods=["GET", "POST"])
@public
def totp() -> Any:
    """Second step of sign-in: a TOTP code."""
    operator = _pending_operator()
    if operator is None or operator.totp_enabled_at is None:
        return redirect(url_for("console.login"))
    if request.method == "GET":
        return render_template("console/totp.html")
    ratelimit.hit("console-totp", _client_id(), str(operator.id))
    db = get_session()
    if not services.verify_totp(operator, request.form.get("code", "").strip(), _keyring()):
        db.commit()  # keeps the replay counter consistent
        flash(_("That code is not valid."), "error")
        return render_template("console/totp.html"), 401
    operator.last_login_at = utcnow()
    signals.login_succeeded.send(None, operator_id=operator.id)
    db.commit()
    with keep_language():
        start_operator_session(operator.id)
    return redirect(url_for("console.home"))


@bp.route("/totp/enrol", methods=["GET", "POST"])
@public
def totp_enrol() -> Any:
    """First sign-in: add the TOTP secret to an authenticator app and confirm a code."""
    operator = _pending_operator()
    if operator is None or operator.totp_enabled_at is not None:
        return redirect(url_for("console.login"))
    db = get_session()
    keyring = _keyring()
    if request.method == "GET":
        uri = services.start_totp_enrolment(operator, keyring)
        db.commit()
        return render_template(
            "console/enrol.html", otpauth_uri=uri, secret=services.totp_secret(operator, keyring)
        )
    ratelimit.hit("console-totp", _client_id(), str(operator.id))
    if not services.verify_totp(operator, request.form.get("code", "").strip(), keyring):
        db.commit()  # the replay counter and the failed attempt's audit entry
        flash(_("That code is not valid; check the clock of your device and try again."), "error")
        return render_template(
            "console/enrol.html", otpauth_uri=None, secret=services.totp_secret(operator, keyring)
        ), 401
    operator.last_login_at = utcnow()
    signals.login_succeeded.send(None, operator_id=operator.id)
    db.commit()
    with keep_language():
        start_operator_session(operator.id)
    return redirect(url_for("console.home"))


@bp.route("/step-up", methods=["GET", "POST"])
@requires(Permission.CONSOLE_ACCESS)
def step_up() -> Any:
    """Re-enter a TOTP code before a sensitive operation."""
    if request.method == "GET":
        return render_template("console/totp.html", step_up=True)
    operator = get_session().get(Operator, int(current_actor().id))
    assert operator is not None
    ratelimit.hit("console-totp", _client_id(), str(operator.id))
    if not services.verify_totp(operator, request.form.get("code", "").strip(), _keyring()):
        get_session().commit()
        flash(_("That code is not valid."), "error")
        return render_template("console/totp.html", step_up=True), 401
    get_session().commit()
    session["mfa_at"] = int(utcnow().timestamp())
    return redirect(safe_next(request.args.get("next"), url_for("console.home")))


@bp.post("/logout")
@public
def logout() -> WerkzeugResponse:
    """End the session."""
    with keep_language():
        session.clear()
    return redirect(url_for("console.login"))


@bp.get("/")
@requires(Permission.CONSOLE_ACCESS)
def home() -> str:
    """Who is signed in, the catalog in force, and (for admins) the service keys."""
    db = get_session()
    actor = current_actor()
    keys = (
        list(db.scalars(select(ApiKey).order_by(ApiKey.created_at.desc()).limit(100)))
        if actor.can(Permission.API_KEYS_MANAGE)
        else None
    )
    return render_template(
        "console/home.html",
        active="home",
        actor=actor,
        fields=list(db.scalars(select(CatalogField).order_by(CatalogField.name))),
        purposes=list(db.scalars(select(Purpose).order_by(Purpose.id))),
        api_keys=keys,
    )
