"""Translations of the browser pages (Flask-Babel): zh-CN by default, English on request.

The language of a page is, in order: the one the visitor chose with the language switch
(kept in the session under :data:`SESSION_KEY`), else the best match of the browser's
``Accept-Language`` among :data:`LANGUAGES`, else Chinese. Starting a portal or console
session keeps the choice (:func:`keep_language`).

Catalog texts (purpose names, explanations, field labels, notices) come in both languages
from the catalog itself; :func:`localized` picks the one for the page. Message catalogs
live in ``governance/translations/<locale>/LC_MESSAGES/messages.po`` with their compiled
``.mo`` beside them (``make translations`` extracts, updates and compiles; a test fails
when a message lacks a translation or a ``.mo`` is older than its ``.po``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from babel import Locale
from flask import Flask, has_request_context, request, session
from flask_babel import Babel, format_date, format_datetime, get_locale, to_user_timezone

__all__ = [
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "SESSION_KEY",
    "TRANSLATIONS_DIR",
    "babel",
    "country_name",
    "current_language",
    "html_lang",
    "init_app",
    "keep_language",
    "localized",
    "tidy_cjk",
]

#: Short language code -> Babel locale of its message catalog.
LANGUAGES: dict[str, str] = {"zh": "zh_Hans_CN", "en": "en"}
#: The language of a visitor whose browser asks for neither.
DEFAULT_LANGUAGE = "zh"
#: The BCP 47 tag of each language, for ``<html lang>``.
HTML_LANG = {"zh": "zh-CN", "en": "en"}
#: Where a visitor's choice is kept in the (signed) session cookie.
SESSION_KEY = "lang"
#: Customers are in China; times are shown in China Standard Time.
DISPLAY_TIMEZONE = "Asia/Shanghai"
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"

babel = Babel()


def _chosen() -> str:
    """The language of the current request (short code)."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    picked = session.get(SESSION_KEY)
    if picked in LANGUAGES:
        return str(picked)
    best = request.accept_languages.best_match(list(LANGUAGES))
    return best if best in LANGUAGES else DEFAULT_LANGUAGE


def select_locale() -> str:
    """Flask-Babel's locale selector."""
    return LANGUAGES[_chosen()]


def current_language() -> str:
    """``zh`` or ``en``: the language of the page being rendered."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "zh"


def html_lang() -> str:
    """The page's ``lang`` attribute."""
    return HTML_LANG[current_language()]


#: Whitespace between two Chinese characters or punctuation marks (a folded line break in
#: a catalog text): Chinese is written without it.
_CJK = "[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]"
_CJK_GAP = re.compile(f"(?<={_CJK}) +(?={_CJK})")


def tidy_cjk(text: str) -> str:
    """``text`` without spaces between Chinese characters (left by folded lines)."""
    return _CJK_GAP.sub("", text)


def localized(obj: Any, attribute: str) -> str:
    """``obj.<attribute>_zh`` or ``obj.<attribute>_en``, for the page's language."""
    value = getattr(obj, f"{attribute}_{current_language()}", None)
    if not value:  # a catalog text missing in one language: show the other, not nothing
        value = getattr(obj, f"{attribute}_zh", None) or getattr(obj, f"{attribute}_en", "")
    return tidy_cjk(str(value))


def country_name(code: str | None) -> str:
    """A country's name in the page's language (ISO 3166-1 alpha-2 code in, name out)."""
    if not code:
        return ""
    locale = get_locale() or Locale.parse(LANGUAGES[DEFAULT_LANGUAGE])
    return str(locale.territories.get(code.upper(), code.upper()))


def when(moment: dt.datetime | str | None) -> str:
    """A point in time for people (China time, in the page's language)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return str(format_datetime(moment, "medium"))


def day(moment: dt.date | dt.datetime | str | None) -> str:
    """A calendar day for people (in China time for a moment)."""
    if moment is None:
        return ""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if isinstance(moment, dt.datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        moment = to_user_timezone(moment).date()
    return str(format_date(moment, "long"))


@contextmanager
def keep_language() -> Iterator[None]:
    """Keep the visitor's language choice across a ``session.clear()`` inside the block."""
    picked = session.get(SESSION_KEY)
    try:
        yield
    finally:
        if picked in LANGUAGES:
            session[SESSION_KEY] = picked


def _template_helpers() -> dict[str, Callable[..., Any]]:
    return {
        "current_language": current_language,
        "html_lang": html_lang,
        "localized": localized,
        "country_name": country_name,
    }


def init_app(app: Flask) -> None:
    """Install Flask-Babel with the locale selector and the template helpers."""
    app.config.setdefault("BABEL_DEFAULT_LOCALE", LANGUAGES[DEFAULT_LANGUAGE])
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", DISPLAY_TIMEZONE)
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=select_locale)
    app.jinja_env.globals.update(_template_helpers())
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["day"] = day
