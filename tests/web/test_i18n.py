"""Translations: complete catalogs in both languages, compiled, and chosen as they should be."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from flask import Flask

from consent.catalog.countries import ISO_3166_ALPHA2
from consent.models import EVENT_KINDS
from consent.tiers import Tier
from governance.auth.permissions import Role
from governance.i18n import LANGUAGES, TRANSLATIONS_DIR
from governance.requests import services as dsr
from governance.requests.models import KINDS, STATUSES
from governance.web import labels
from governance.web.purposes import GROUPS
from tests.web.conftest import csrf_of

ROOT = Path(__file__).resolve().parents[2]
LOCALES = sorted(LANGUAGES.values())
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "_l": None, "lazy_gettext": None}
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _catalog(locale: str) -> Any:
    with (TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as f:
        return read_po(f, locale=locale)


def _marked_in_sources() -> set[str]:
    """Every message marked for translation in the code and templates, extracted afresh."""
    method_map = [
        ("governance/web/**.py", "python"),
        ("governance/i18n.py", "python"),
        ("governance/templates/**.html", "jinja2"),
    ]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_babel_cfg_names_the_same_sources_as_this_test() -> None:
    sections = re.findall(r"^\[(\w+): ([^\]]+)\]", (ROOT / "babel.cfg").read_text(), re.M)
    assert sorted(sections) == sorted(
        [
            ("python", "governance/web/**.py"),
            ("python", "governance/i18n.py"),
            ("jinja2", "governance/templates/**.html"),
        ]
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_every_marked_message_has_a_translation(locale: str) -> None:
    marked = _marked_in_sources()
    assert len(marked) > 200  # the extraction found the pages' messages
    catalog = _catalog(locale)
    missing = sorted(m for m in marked if catalog.get(m) is None or not catalog.get(m).string)
    fuzzy = sorted(m.id for m in catalog if m.id and m.fuzzy)
    assert missing == [], f"untranslated in {locale}: run `make translations` and translate"
    assert fuzzy == [], f"fuzzy in {locale}"


def test_the_chinese_catalog_translates_rather_than_copies() -> None:
    catalog = _catalog("zh_Hans_CN")
    # Messages that read the same in both languages (codes, names, punctuation) are few.
    same = sorted(m.id for m in catalog if m.id and m.string == m.id)
    assert same == []


@pytest.mark.parametrize("locale", LOCALES)
def test_translations_keep_every_placeholder(locale: str) -> None:
    for message in _catalog(locale):
        if message.id:
            assert set(_PLACEHOLDER.findall(message.string)) == set(
                _PLACEHOLDER.findall(message.id)
            ), message.id


@pytest.mark.parametrize("locale", LOCALES)
def test_the_compiled_catalog_matches_its_source(locale: str) -> None:
    compiled_path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / "messages.mo"
    compiled = read_mo(BytesIO(compiled_path.read_bytes()))
    source = _catalog(locale)
    assert {m.id: m.string for m in compiled if m.id} == {m.id: m.string for m in source if m.id}, (
        "the .mo is stale: run `make translations`"
    )


def test_every_code_the_pages_show_has_a_label() -> None:
    expected = {
        "tier": {t.value for t in Tier},
        "event": set(EVENT_KINDS),
        "request_kind": set(KINDS),
        "request_status": set(STATUSES),
        "request_reason": set(dsr.REQUEST_REASONS),
        "reject_reason": set(dsr.REJECT_REASONS),
        "role": {r.value for r in Role},
        "group": set(GROUPS),
        "group_summary": set(GROUPS),
        "decision": {"allow", "deny", "error"},
    }
    for table, codes in expected.items():
        assert codes <= set(labels.LABELS[table]), table


def test_policy_reasons_have_words_for_customers() -> None:
    rego = "".join(
        p.read_text() for p in (ROOT / "policies").rglob("*.rego") if "_test" not in p.name
    )
    reasons = set(re.findall(r'_request_reasons contains "(\w+)"', rego))
    reasons |= set(re.findall(r'\{"(\w+)" \|', rego))
    assert reasons  # the policy still words its reasons this way
    assert reasons <= set(labels.READ_REASONS), reasons - set(labels.READ_REASONS)


def test_the_portal_speaks_chinese_unless_asked_otherwise(
    app: Flask, customer: str, portal_client: Any
) -> None:
    client = portal_client(customer)
    assert '<html lang="zh-CN">' in client.get("/portal/").get_data(as_text=True)
    english = client.get("/portal/", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.get_data(as_text=True)
    assert "Your privacy centre" in english.get_data(as_text=True)
    french = client.get("/portal/", headers={"Accept-Language": "fr-FR"})
    assert '<html lang="zh-CN">' in french.get_data(as_text=True)


def test_the_language_switch_wins_over_the_browser_and_survives_signing_in(
    app: Flask, customer: str
) -> None:
    from tests.web.helpers import portal_path

    client = app.test_client()
    with app.app_context():
        path = portal_path(customer)
    english = {"Accept-Language": "en"}
    page = client.get(path, headers=english).get_data(as_text=True)
    assert "Continue" in page
    switched = client.post(
        "/lang", data={"csrf_token": csrf_of(page), "lang": "zh", "next": path}, headers=english
    )
    assert switched.status_code == 303 and switched.headers["Location"] == path
    page = client.get(path, headers=english).get_data(as_text=True)
    assert "继续" in page
    entered = client.post(
        "/portal/enter", data={"csrf_token": csrf_of(page), "token": path.split("=", 1)[1]}
    )
    assert entered.status_code == 302
    assert '<html lang="zh-CN">' in client.get("/portal/", headers=english).get_data(as_text=True)


@pytest.mark.parametrize(
    "target", ["//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com", ""]
)
def test_the_language_switch_goes_back_to_this_site_only(client: Any, target: str) -> None:
    page = client.get("/console/login").get_data(as_text=True)
    resp = client.post("/lang", data={"csrf_token": csrf_of(page), "lang": "en", "next": target})
    assert resp.status_code == 303 and resp.headers["Location"] == "/portal/"


def test_country_names_follow_the_language(app: Flask, customer: str, portal_client: Any) -> None:
    client = portal_client(customer)
    assert "新加坡" in client.get("/portal/purposes/sharing").get_data(as_text=True)
    english = client.get("/portal/purposes/sharing", headers={"Accept-Language": "en"})
    assert "outside mainland China: Singapore" in english.get_data(as_text=True)
    assert "SG" in ISO_3166_ALPHA2  # the catalog's country code, named by Babel's CLDR data
