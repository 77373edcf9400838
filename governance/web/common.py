"""What every browser page shares: the language switch, CSRF fields, safe redirects.

Every form on a page posts a CSRF token (``{{ csrf_field() }}`` in a template): the
actor resolution in :mod:`governance.auth.actors` refuses a page POST without a valid one.
The language switch is such a form too; it keeps the choice in the session and returns
to the page it was pressed on (a local path only: never an open redirect).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, redirect, request, session
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from werkzeug.wrappers import Response as WerkzeugResponse

from governance.auth.permissions import public
from governance.i18n import LANGUAGES, SESSION_KEY, tidy_cjk

bp = Blueprint("web", __name__)


def safe_next(target: str | None, default: str = "/portal/") -> str:
    """``target`` if it is a path on this site, else ``default``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def csrf_field() -> Markup:
    """The hidden CSRF input every form carries."""
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(generate_csrf())


def here() -> str:
    """Where the language switch returns: this page, or the one a POST result set.

    A page rendered in answer to a POST names a page to return to in ``g.return_to``
    (reloading a POST's result would post again); without one, the area's start page.
    """
    if request.method == "GET":
        path = request.full_path
        return path[:-1] if path.endswith("?") else path
    if g.get("return_to"):
        return str(g.return_to)
    return "/console/" if request.path.startswith("/console/") else "/portal/"


#: A line ending a sentence, or a heading (the next line starts a paragraph).
_ENDS = tuple(".。:\uff1a!?\uff01\uff1f")  # with the full-width colon, ! and ?
_ITEM = re.compile(r"^\s*(\d+[.、]|[-•])\s")


def paragraphs(text: str) -> list[str]:
    """A text hard-wrapped at a fixed width, as paragraphs that reflow on any screen.

    A line ending a sentence, or before a numbered or bulleted item, ends a paragraph;
    other line breaks were only wrapping.
    """
    out: list[list[str]] = []
    ended = True
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            ended = True
            continue
        if ended or _ITEM.match(raw):
            out.append([line])
        else:
            out[-1].append(line)
        ended = line.endswith(_ENDS)
    return [tidy_cjk(" ".join(lines)) for lines in out]


@bp.post("/lang")
@public
def set_language() -> WerkzeugResponse:
    """Switch the language of every page for this session, then go back."""
    lang = request.form.get("lang", "")
    if lang in LANGUAGES:
        session[SESSION_KEY] = lang
    return redirect(safe_next(request.form.get("next")), 303)


def init_app(app: Flask) -> None:
    """Register the language switch and the template helpers."""
    app.register_blueprint(bp)
    app.jinja_env.globals.update(csrf_field=csrf_field, here=here)
    app.jinja_env.filters["paragraphs"] = paragraphs
