"""Loading catalogs: the default loads, versions only move forward, published data is kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent.catalog import loader
from consent.catalog.loader import (
    DEFAULT_CATALOG_PATH,
    MAX_FILE_BYTES,
    CatalogTooLarge,
    LoadResult,
    load_catalog,
    load_catalog_file,
    parse_yaml,
)
from consent.catalog.models import CatalogField, CatalogVersion, PrivacyNotice, Purpose
from consent.catalog.schema import (
    CatalogConflict,
    CatalogInvalid,
    canonical_document,
    document_sha256,
    parse_document,
)
from consent.tiers import Tier
from governance.profiles.models import BlindIndex, ProfileValue, Subject

Doc = dict[str, Any]

# The field names and value types other packages rely on.
DEFAULT_FIELDS = {
    "mobile": ("string", "basic", True),
    "email": ("string", "basic", True),
    "wecom_unionid": ("string", "basic", True),
    "nickname": ("string", "basic", False),
    "gender": ("string", "basic", False),
    "birth_year": ("integer", "basic", False),
    "city": ("string", "basic", False),
    "member_level": ("string", "basic", False),
    "browse_history": ("list", "behaviour", False),
    "group_interactions": ("integer", "behaviour", False),
    "coupon_use": ("integer", "behaviour", False),
    "store_visits": ("integer", "behaviour", False),
    "order_total_12m": ("number", "payment", False),
    "payment_method": ("string", "payment", False),
    "high_spending_capacity": ("integer", "payment", False),
    "bank_card_number": ("string", "payment", False),
    "precise_location": ("string", "behaviour", False),
    "minor_guardian_mobile": ("string", "basic", False),
    "service_notes": ("string", "basic", False),
    "chat_excerpt": ("string", "behaviour", False),
}


def _field(doc: Doc, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(f for f in doc["fields"] if f["name"] == name)
    return entry


def _notice(doc: Doc, version: str) -> dict[str, Any]:
    entry: dict[str, Any] = next(n for n in doc["notices"] if n["version"] == version)
    return entry


def _store_value(db: Session, field: str) -> None:
    """A fictional subject with one (dummy) encrypted value for ``field``."""
    db.add(Subject(id="sub_fictional0001", birth_year=1990))
    db.flush()
    db.add(
        ProfileValue(
            subject_id="sub_fictional0001", field=field, key_version=1, ciphertext=b"\x00" * 28
        )
    )
    db.commit()


# -- the default catalog -------------------------------------------------------------------


def test_default_catalog_loads_every_field_purpose_and_notice(db: Session) -> None:
    result = load_catalog_file(db, DEFAULT_CATALOG_PATH)
    db.commit()

    assert not result.unchanged
    assert (result.fields.added, result.purposes.added, result.notices.added) == (20, 7, 2)
    assert db.scalar(select(func.count()).select_from(CatalogField)) == 20
    assert db.scalar(select(func.count()).select_from(Purpose)) == 7
    assert db.scalar(select(func.count()).select_from(PrivacyNotice)) == 2
    assert result.summary().startswith("catalog 2026.11.2 loaded (sha256 ")


def test_default_fields_have_the_agreed_names_types_and_tiers(
    db: Session, catalog: LoadResult
) -> None:
    rows = {f.name: (f.value_type, f.tier, f.identifier) for f in db.scalars(select(CatalogField))}

    assert rows == DEFAULT_FIELDS


def test_default_sensitive_fields_are_pipl_sensitive_and_free_text_is_marked(
    db: Session, catalog: LoadResult
) -> None:
    fields = {f.name: f for f in db.scalars(select(CatalogField))}

    assert {n for n, f in fields.items() if f.pipl_sensitive} == {
        "bank_card_number",
        "precise_location",
        "minor_guardian_mobile",
    }
    assert fields["bank_card_number"].classification == "core"
    assert fields["mobile"].classification == fields["email"].classification == "core"
    assert fields["wecom_unionid"].classification == "internal"
    assert {n for n, f in fields.items() if f.free_text} == {"service_notes", "chat_excerpt"}
    assert all(Tier(f.tier) for f in fields.values())


def test_default_purposes_state_basis_and_separate_consent(
    db: Session, catalog: LoadResult
) -> None:
    purposes = {p.id: p for p in db.scalars(select(Purpose))}

    assert set(purposes) == {
        "marketing_push",
        "personalised_recommendation",
        "analytics",
        "customer_service",
        "joint_modelling_partner_bank",
        "provision_logistics",
        "cross_border_transfer",
    }
    service = purposes["customer_service"]
    assert (service.legal_basis, service.optional) == ("contract", False)
    separate = {
        p.id: (p.separate_consent_reason, p.required_tier)
        for p in purposes.values()
        if p.separate_consent
    }
    assert separate == {
        "joint_modelling_partner_bank": ("third_party_provision", "payment"),
        "provision_logistics": ("third_party_provision", "basic"),
        "cross_border_transfer": ("cross_border", "basic"),
    }
    assert purposes["cross_border_transfer"].recipient_country == "SG"
    assert all(p.recipient for p in purposes.values() if p.separate_consent)


def test_default_notice_2026_09_is_a_material_change_for_two_purposes(
    db: Session, catalog: LoadResult
) -> None:
    notices = {n.version: n for n in db.scalars(select(PrivacyNotice))}

    assert notices["2026-01"].material_change is False
    assert len(notices["2026-01"].purposes) == 7
    assert notices["2026-09"].material_change is True
    assert notices["2026-09"].purposes == ["joint_modelling_partner_bank", "cross_border_transfer"]


def test_load_records_the_whole_canonical_document_and_its_hash(
    db: Session, default_document: Doc
) -> None:
    result = load_catalog(db, default_document)
    db.commit()

    row = db.get(CatalogVersion, "2026.11.2")
    assert row is not None
    expected = canonical_document(parse_document(default_document))
    assert row.document == expected
    assert row.sha256 == result.sha256 == document_sha256(expected)


# -- versions --------------------------------------------------------------------------------


def test_reloading_the_same_version_is_a_no_op_and_says_unchanged(
    db: Session, catalog: LoadResult, catalog_state: Any
) -> None:
    before = catalog_state()

    result = load_catalog_file(db, DEFAULT_CATALOG_PATH)
    db.commit()

    assert result.unchanged
    assert result.sha256 == catalog.sha256
    assert "unchanged" in result.summary()
    assert catalog_state() == before


def test_same_version_with_different_content_is_refused_naming_the_version(
    db: Session, catalog: LoadResult, default_document: Doc, catalog_state: Any
) -> None:
    before = catalog_state()
    _field(default_document, "city")["retention_days"] = 400

    with pytest.raises(CatalogConflict) as refused:
        load_catalog(db, default_document)
    db.rollback()
    db.commit()

    assert refused.value.problem.status == 409
    assert "catalog 2026.11.2 is already loaded with other content" in refused.value.detail
    assert catalog_state() == before


def test_older_version_is_refused(
    db: Session, catalog: LoadResult, default_document: Doc, catalog_state: Any
) -> None:
    before = catalog_state()
    default_document["version"] = "2026.9.1"

    with pytest.raises(CatalogConflict, match=r"2026\.9\.1 is not newer than the current"):
        load_catalog(db, default_document)
    db.rollback()
    db.commit()

    assert catalog_state() == before


def test_versions_compare_as_numbers_not_text(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    next_document["version"] = "2026.100.1"  # sorts before 2026.11.2 as text

    result = load_catalog(db, next_document)

    assert not result.unchanged


def test_new_version_updates_changed_rows_and_inserts_new_ones(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    _field(next_document, "city")["retention_days"] = 400
    next_document["fields"].append(
        {
            **_field(next_document, "store_visits"),
            "name": "app_sessions",
            "label_zh": "App 使用次数",
            "label_en": "App sessions",
        }
    )

    result = load_catalog(db, next_document)
    db.commit()

    assert (result.fields.added, result.fields.updated, result.fields.removed) == (1, 1, 0)
    assert (result.purposes.added, result.purposes.updated) == (0, 0)
    city = db.get(CatalogField, "city")
    assert city is not None and (city.retention_days, city.catalog_version) == (400, "2026.12.1")
    mobile = db.get(CatalogField, "mobile")
    assert mobile is not None and mobile.catalog_version == "2026.11.2"
    assert db.get(CatalogField, "app_sessions") is not None
    assert db.scalar(select(func.count()).select_from(CatalogVersion)) == 2


def test_loading_an_already_loaded_older_version_changes_nothing(
    db: Session, catalog: LoadResult, next_document: Doc, default_document: Doc
) -> None:
    _field(next_document, "city")["retention_days"] = 400
    load_catalog(db, next_document)
    db.commit()

    result = load_catalog_file(db, DEFAULT_CATALOG_PATH)

    assert result.unchanged
    assert result.current_version == "2026.12.1"
    assert "the current catalog is 2026.12.1" in result.summary()
    city = db.get(CatalogField, "city")
    assert city is not None and city.retention_days == 400


# -- removals ---------------------------------------------------------------------------------


def test_field_without_stored_values_can_be_removed(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    next_document["fields"].remove(_field(next_document, "chat_excerpt"))

    result = load_catalog(db, next_document)
    db.commit()

    assert result.fields.removed == 1
    assert db.get(CatalogField, "chat_excerpt") is None


def test_field_with_stored_values_cannot_be_removed(
    db: Session, catalog: LoadResult, next_document: Doc, catalog_state: Any
) -> None:
    _store_value(db, "service_notes")
    before = catalog_state()
    next_document["fields"].remove(_field(next_document, "service_notes"))

    with pytest.raises(CatalogConflict) as refused:
        load_catalog(db, next_document)
    db.rollback()
    db.commit()

    assert refused.value.messages == [
        "field service_notes: cannot be removed, profile_values still holds values for it; "
        "erase or migrate them first, or keep the field"
    ]
    assert catalog_state() == before


def test_identifier_with_blind_indexes_cannot_be_removed(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    db.add(Subject(id="sub_fictional0002", birth_year=1985))
    db.flush()
    db.add(BlindIndex(subject_id="sub_fictional0002", field="email", digest=b"\x01" * 32))
    db.commit()
    next_document["fields"].remove(_field(next_document, "email"))

    with pytest.raises(CatalogConflict, match="field email: cannot be removed, blind_indexes"):
        load_catalog(db, next_document)


def test_purpose_named_by_a_published_notice_cannot_be_removed(
    db: Session, catalog: LoadResult, next_document: Doc, catalog_state: Any
) -> None:
    before = catalog_state()
    next_document["purposes"] = [p for p in next_document["purposes"] if p["id"] != "analytics"]
    next_document["notices"] = [_notice(next_document, "2026-09")]  # 2026-01 names analytics

    with pytest.raises(CatalogConflict) as refused:
        load_catalog(db, next_document)
    db.rollback()
    db.commit()

    assert refused.value.messages == [
        "purpose analytics: cannot be removed, privacy notice 2026-01 names it "
        "(notices are never deleted)"
    ]
    assert catalog_state() == before


def test_notice_left_out_of_a_new_version_is_kept(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    next_document["notices"] = [_notice(next_document, "2026-09")]

    result = load_catalog(db, next_document)
    db.commit()

    assert result.notices.removed == 0
    assert db.get(PrivacyNotice, "2026-01") is not None


# -- published notices are frozen -------------------------------------------------------------


def test_changing_the_text_of_a_loaded_notice_is_refused(
    db: Session, catalog: LoadResult, next_document: Doc, catalog_state: Any
) -> None:
    before = catalog_state()
    _notice(next_document, "2026-01")["text_en"] += " We may also call you."

    with pytest.raises(CatalogConflict) as refused:
        load_catalog(db, next_document)
    db.rollback()
    db.commit()

    assert len(refused.value.messages) == 1
    assert refused.value.messages[0].startswith("notice 2026-01: already loaded with another text")
    assert "add a new notice version" in refused.value.messages[0]
    assert catalog_state() == before


def test_changing_the_material_change_flag_of_a_loaded_notice_is_refused(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    _notice(next_document, "2026-09")["material_change"] = False

    with pytest.raises(
        CatalogConflict, match="notice 2026-09: already loaded with another material_change"
    ):
        load_catalog(db, next_document)


def test_new_notice_with_the_text_of_a_loaded_one_is_refused(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    copy = {**_notice(next_document, "2026-09"), "version": "2026-12"}
    next_document["notices"] = [_notice(next_document, "2026-01"), copy]

    with pytest.raises(
        CatalogConflict, match="notice 2026-12: same text as the loaded notice 2026-09"
    ):
        load_catalog(db, next_document)


def test_new_notice_version_is_added_with_its_computed_hash(
    db: Session, catalog: LoadResult, next_document: Doc
) -> None:
    next_document["notices"].append(
        {
            **_notice(next_document, "2026-09"),
            "version": "2026-12",
            "text_zh": "示例零售隐私政策 2026-12 版",
            "text_en": "Example Retail notice 2026-12",
        }
    )

    result = load_catalog(db, next_document)
    db.commit()

    assert result.notices.added == 1
    added = db.get(PrivacyNotice, "2026-12")
    assert added is not None and added.catalog_version == "2026.12.1"
    assert len(added.text_sha256) == 64


# -- all or nothing ---------------------------------------------------------------------------


def test_failure_while_writing_leaves_nothing_after_rollback(
    db: Session,
    catalog: LoadResult,
    next_document: Doc,
    catalog_state: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = catalog_state()
    _field(next_document, "city")["retention_days"] = 400
    next_document["notices"].append(
        {**_notice(next_document, "2026-09"), "version": "2026-12", "text_en": "New text."}
    )

    def explode(*_args: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader, "_notice_row", explode)  # after the version and fields
    with pytest.raises(RuntimeError):
        load_catalog(db, next_document)
    db.rollback()
    db.commit()  # the caller goes on; nothing of the refused catalog may remain

    assert catalog_state() == before


# -- files ------------------------------------------------------------------------------------


def test_yaml_syntax_error_is_reported_with_its_line(tmp_path: Path, db: Session) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text('version: "2026.12.1"\nfields:\n  - name: mobile\n    tier: [basic\n')

    with pytest.raises(CatalogInvalid) as refused:
        load_catalog_file(db, path)

    assert refused.value.messages == [
        "line 5, column 1: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence at line 4, column 11)"
    ]
    assert refused.value.detail.startswith("broken.yaml: the catalog is invalid")


def test_duplicate_yaml_key_is_refused_not_silently_overwritten() -> None:
    text = b'version: "2026.12.1"\nfields:\n  - name: mobile\n    tier: basic\n    tier: payment\n'

    with pytest.raises(CatalogInvalid) as refused:
        parse_yaml(text, "dup.yaml")

    assert refused.value.messages == ["line 5, column 5: duplicate key 'tier' (first at line 4)"]


def test_file_over_5_mb_is_refused(tmp_path: Path, db: Session) -> None:
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"#" * (MAX_FILE_BYTES + 1))

    with pytest.raises(CatalogTooLarge) as refused:
        load_catalog_file(db, path)

    assert refused.value.problem.status == 413


def test_file_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(CatalogInvalid, match="not UTF-8"):
        parse_yaml('version: "1"\nlabel_zh: 手机号\n'.encode("gb18030"), "gbk.yaml")


def test_yaml_tags_that_build_objects_are_refused() -> None:
    with pytest.raises(CatalogInvalid, match="invalid YAML"):
        parse_yaml(b"version: !!python/object/apply:os.system ['true']\n", "evil.yaml")
