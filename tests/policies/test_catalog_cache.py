"""The catalog the decisions read is kept per app until another version is loaded."""

from __future__ import annotations

import copy

import yaml
from flask import Flask

from consent.catalog.loader import DEFAULT_CATALOG_PATH, load_catalog
from governance.db import get_session
from policies.inputs import SUBJECT_ACCESS_PURPOSE, catalog


def test_the_catalog_is_reused_until_a_new_version_is_loaded(app: Flask) -> None:
    document = yaml.safe_load(DEFAULT_CATALOG_PATH.read_text(encoding="utf-8"))
    with app.app_context():
        session = get_session()
        load_catalog(session, document)
        session.commit()
        purposes, fields = catalog(session)
        _again, again_fields = catalog(session)
        assert again_fields["city"] is fields["city"]  # the same objects: not reloaded
        assert SUBJECT_ACCESS_PURPOSE in purposes and fields["city"].tier == "basic"

        changed = copy.deepcopy(document)
        changed["version"] = "2026.12.9"
        next(f for f in changed["fields"] if f["name"] == "city")["tier"] = "behaviour"
        load_catalog(session, changed)
        session.commit()
        _purposes, reloaded = catalog(session)
        assert reloaded["city"].tier == "behaviour"
