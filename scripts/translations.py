"""Refresh the message catalogs of the browser pages: extract, update, fill English, compile.

    python scripts/translations.py            # what `make translations` runs

1. extracts every marked message (babel.cfg) into governance/translations/messages.pot;
2. updates governance/translations/<locale>/LC_MESSAGES/messages.po for each locale
   (new messages come in untranslated; messages no longer used are dropped);
3. fills the English catalog's empty entries with their msgid (the source texts are
   English), so only the Chinese catalog needs a person;
4. compiles every .po into its .mo (committed, so a clean clone needs no build step).

Untranslated Chinese messages are listed at the end, and the exit status is 1 while any
remains (tests/web/test_i18n.py fails on them too).
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "governance" / "translations"
POT = TRANSLATIONS / "messages.pot"
LOCALES = ("zh_Hans_CN", "en")
KEYWORDS = ("_l", "lazy_gettext")
_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def extract() -> None:
    """Write the template of every marked message (sorted, no source locations)."""
    args = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg"), "--no-location"]
    args += ["--sort-output", "--omit-header", "-o", str(POT)]
    for keyword in KEYWORDS:
        args += ["-k", keyword]
    CommandLineInterface().run([*args, str(ROOT)])


def update(locale: str, template: Catalog) -> Catalog:
    """The locale's catalog brought in line with ``template`` (created if missing)."""
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=locale)
    else:
        catalog = Catalog(locale=locale, project="privacy-governance")
    catalog.update(template, no_fuzzy_matching=True)
    catalog.obsolete.clear()
    # A stable header: the files change only when a message does.
    catalog.fuzzy = False
    catalog.creation_date = catalog.revision_date = _EPOCH
    catalog.project, catalog.version = "privacy-governance", "1"
    catalog.copyright_holder = "the privacy-governance authors"
    catalog.msgid_bugs_address = catalog.last_translator = catalog.language_team = ""
    if locale == "en":
        for message in catalog:
            if message.id and not message.string:
                message.string = message.id
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, sort_output=True, omit_header=False, width=100)
    with path.with_suffix(".mo").open("wb") as f:
        write_mo(f, catalog)
    return catalog


def main() -> int:
    """Extract, update, fill, compile; 1 while a Chinese translation is missing."""
    extract()
    with POT.open("rb") as f:
        template = read_po(f)
    missing = []
    for locale in LOCALES:
        catalog = update(locale, template)
        missing += [(locale, m.id) for m in catalog if m.id and (not m.string or m.fuzzy)]
    for locale, msgid in missing:
        print(f"untranslated ({locale}): {msgid!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
