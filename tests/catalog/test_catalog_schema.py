"""Catalog document validation: every bad entry is named, and a refused load writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from consent.catalog.loader import LoadResult, load_catalog
from consent.catalog.schema import (
    CatalogInvalid,
    canonical_document,
    document_sha256,
    notice_text_sha256,
    parse_document,
)

Doc = dict[str, Any]


def _entry(doc: Doc, section: str, key: str) -> dict[str, Any]:
    ident = {"fields": "name", "purposes": "id", "notices": "version"}[section]
    entry: dict[str, Any] = next(e for e in doc[section] if e[ident] == key)
    return entry


def field(doc: Doc, name: str) -> dict[str, Any]:
    return _entry(doc, "fields", name)


def purpose(doc: Doc, pid: str) -> dict[str, Any]:
    return _entry(doc, "purposes", pid)


def notice(doc: Doc, version: str) -> dict[str, Any]:
    return _entry(doc, "notices", version)


def _set(
    getter: Callable[[Doc, str], dict[str, Any]], key: str, **changes: Any
) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        getter(doc, key).update(changes)

    return mutate


def _drop(
    getter: Callable[[Doc, str], dict[str, Any]], key: str, attr: str
) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        del getter(doc, key)[attr]

    return mutate


def _top(**changes: Any) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc.update(changes)

    return mutate


def _append(section: str, make: Callable[[Doc], Any]) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        doc[section].append(make(doc))

    return mutate


def _del_top(key: str) -> Callable[[Doc], None]:
    def mutate(doc: Doc) -> None:
        del doc[key]

    return mutate


def _notice_hash_wrong(doc: Doc) -> None:
    notice(doc, "2026-01")["text_sha256"] = "0" * 64


def _notice_2026_01_sha(doc: Doc) -> str:
    n = notice(doc, "2026-01")
    return notice_text_sha256(n["text_zh"], n["text_en"])


def _same_text_as_first(doc: Doc) -> None:
    first, second = notice(doc, "2026-01"), notice(doc, "2026-09")
    second.update(text_zh=first["text_zh"], text_en=first["text_en"])


SEPARATE_REASONS = (
    "sensitive_pi (art. 29), third_party_provision (art. 23), public_disclosure (art. 25), "
    "cross_border (art. 39)"
)
LEGAL_BASES = (
    "consent, contract, legal_obligation, vital_interest, public_interest, news_reporting, "
    "public_information"
)

# (id, change to the default document, expected line; {name} is that entry's index)
BAD_DOCUMENTS: list[tuple[str, Callable[[Doc], None], str]] = [
    (
        "field_tier_unknown",
        _set(field, "bank_card_number", tier="gold"),
        "fields[{bank_card_number}] (bank_card_number).tier: "
        "Must be one of: basic, behaviour, payment.",
    ),
    (
        "field_unknown_key",
        _set(field, "mobile", colour="red"),
        "fields[{mobile}] (mobile).colour: Unknown field.",
    ),
    ("top_level_unknown_key", _top(owner="marketing"), "owner: Unknown field."),
    ("version_missing", _del_top("version"), "version: Missing data for required field."),
    ("version_unquoted_float", _top(version=2026.12), "version: Not a valid string."),
    (
        "version_not_dotted_number",
        _top(version="v2"),
        "version: Must be a dotted number such as 2026.11.1 (quote it in YAML).",
    ),
    (
        "field_name_not_snake_case",
        _set(field, "nickname", name="NickName"),
        "fields[{nickname}] (NickName).name: "
        "Must be snake_case: lower-case letters, digits and single underscores.",
    ),
    (
        "field_name_too_long",
        _set(field, "city", name="c" * 65),
        "fields[{city}] (" + "c" * 64 + ").name: Length must be between 1 and 64.",
    ),
    (
        "field_name_duplicate",
        _append("fields", lambda d: dict(field(d, "email"))),
        "fields[20] (email).name: Duplicate field name email (first at fields[{email}]).",
    ),
    (
        "field_pipl_sensitive_but_internal",
        _set(field, "precise_location", classification="internal"),
        "fields[{precise_location}] (precise_location).classification: "
        "A PIPL-sensitive field (art. 28) must be classified sensitive or core.",
    ),
    (
        "field_classification_unknown",
        _set(field, "gender", classification="secret"),
        "fields[{gender}] (gender).classification: "
        "Must be one of: public, internal, sensitive, core.",
    ),
    (
        "field_value_type_unknown",
        _set(field, "store_visits", value_type="text"),
        "fields[{store_visits}] (store_visits).value_type: "
        "Must be one of: string, integer, number, list, date.",
    ),
    (
        "field_retention_zero",
        _set(field, "browse_history", retention_days=0),
        "fields[{browse_history}] (browse_history).retention_days: "
        "Must be a number of days from 1 to 36500.",
    ),
    (
        "field_retention_not_a_number",
        _set(field, "coupon_use", retention_days="90 days"),
        "fields[{coupon_use}] (coupon_use).retention_days: Not a valid integer.",
    ),
    (
        "field_boolean_as_word",
        _set(field, "bank_card_number", pipl_sensitive="yes"),
        "fields[{bank_card_number}] (bank_card_number).pipl_sensitive: Not a valid boolean.",
    ),
    (
        "field_label_zh_blank",
        _set(field, "member_level", label_zh="   "),
        "fields[{member_level}] (member_level).label_zh: Must not be empty.",
    ),
    (
        "field_label_en_missing",
        _drop(field, "birth_year", "label_en"),
        "fields[{birth_year}] (birth_year).label_en: Missing data for required field.",
    ),
    (
        "field_identifier_not_a_string",
        _set(field, "browse_history", identifier=True),
        "fields[{browse_history}] (browse_history).value_type: "
        "An identifier (blind-indexed) field must have value_type string.",
    ),
    (
        "field_free_text_and_identifier",
        _set(field, "service_notes", identifier=True),
        "fields[{service_notes}] (service_notes).free_text: "
        "A field cannot be both free text and an identifier.",
    ),
    (
        "field_entry_not_a_mapping",
        _append("fields", lambda d: "mobile"),
        "fields[20]: Invalid input type.",
    ),
    ("fields_empty", _top(fields=[]), "fields: Length must be between 1 and 2000."),
    (
        "purpose_legal_basis_not_in_pipl_art_13",
        _set(purpose, "analytics", legal_basis="legitimate_interest"),
        f"purposes[{{analytics}}] (analytics).legal_basis: Must be one of: {LEGAL_BASES}.",
    ),
    (
        "purpose_required_tier_unknown",
        _set(purpose, "marketing_push", required_tier="gold"),
        "purposes[{marketing_push}] (marketing_push).required_tier: "
        "Must be one of: basic, behaviour, payment.",
    ),
    (
        "purpose_separate_consent_without_reason",
        _set(purpose, "joint_modelling_partner_bank", separate_consent_reason=None),
        "purposes[{joint_modelling_partner_bank}] (joint_modelling_partner_bank)."
        f"separate_consent_reason: Required with separate consent; one of: {SEPARATE_REASONS}.",
    ),
    (
        "purpose_separate_consent_reason_unknown",
        _set(purpose, "provision_logistics", separate_consent_reason="partner_sharing"),
        "purposes[{provision_logistics}] (provision_logistics).separate_consent_reason: "
        "Must be one of: sensitive_pi, third_party_provision, public_disclosure, cross_border.",
    ),
    (
        "purpose_third_party_provision_without_recipient",
        _set(purpose, "provision_logistics", recipient=None, recipient_country=None),
        "purposes[{provision_logistics}] (provision_logistics).recipient: "
        "Required for third_party_provision: name who receives the data.",
    ),
    (
        "purpose_joint_modelling_without_recipient",
        _set(
            purpose,
            "joint_modelling_partner_bank",
            separate_consent_reason="sensitive_pi",
            recipient=None,
            recipient_country=None,
        ),
        "purposes[{joint_modelling_partner_bank}] (joint_modelling_partner_bank).recipient: "
        "Required for joint modelling: name who receives the data.",
    ),
    (
        "purpose_cross_border_without_country",
        _set(purpose, "cross_border_transfer", recipient_country=None),
        "purposes[{cross_border_transfer}] (cross_border_transfer).recipient_country: "
        "Required for cross_border: the recipient's country.",
    ),
    (
        "purpose_cross_border_country_not_iso",
        _set(purpose, "cross_border_transfer", recipient_country="Singapore"),
        "purposes[{cross_border_transfer}] (cross_border_transfer).recipient_country: "
        "Must be an ISO 3166-1 alpha-2 country code in capitals, such as SG.",
    ),
    (
        "purpose_cross_border_to_china",
        _set(purpose, "cross_border_transfer", recipient_country="CN"),
        "purposes[{cross_border_transfer}] (cross_border_transfer).recipient_country: "
        "A cross-border recipient cannot be in CN.",
    ),
    (
        "purpose_foreign_recipient_without_cross_border_consent",
        _set(purpose, "provision_logistics", recipient_country="SG"),
        "purposes[{provision_logistics}] (provision_logistics).separate_consent_reason: "
        "A recipient in SG is a cross-border transfer: separate consent with reason "
        "cross_border is required (art. 39).",
    ),
    (
        "purpose_separate_consent_on_contract",
        _set(
            purpose,
            "customer_service",
            separate_consent=True,
            separate_consent_reason="sensitive_pi",
        ),
        "purposes[{customer_service}] (customer_service).legal_basis: "
        "A purpose needing separate consent must rest on consent.",
    ),
    (
        "purpose_reason_without_separate_consent",
        _set(purpose, "analytics", separate_consent_reason="sensitive_pi"),
        "purposes[{analytics}] (analytics).separate_consent: "
        "Must be true when separate_consent_reason is sensitive_pi.",
    ),
    (
        "purpose_optional_missing",
        _drop(purpose, "marketing_push", "optional"),
        "purposes[{marketing_push}] (marketing_push).optional: Missing data for required field.",
    ),
    (
        "purpose_name_en_blank",
        _set(purpose, "analytics", name_en=""),
        "purposes[{analytics}] (analytics).name_en: Length must be between 1 and 128.",
    ),
    (
        "purpose_id_duplicate",
        _append("purposes", lambda d: dict(purpose(d, "analytics"))),
        "purposes[7] (analytics).id: "
        "Duplicate purpose id analytics (first at purposes[{analytics}]).",
    ),
    (
        "notice_names_unknown_purpose",
        lambda d: notice(d, "2026-09")["purposes"].append("loyalty_lottery"),
        "notices[{n2026_09}] (2026-09).purposes: Unknown purpose loyalty_lottery: not in purposes.",
    ),
    (
        "notice_lists_purpose_twice",
        lambda d: notice(d, "2026-09")["purposes"].append("cross_border_transfer"),
        "notices[{n2026_09}] (2026-09).purposes: Purpose cross_border_transfer is listed twice.",
    ),
    (
        "notice_text_sha256_mismatch",
        _notice_hash_wrong,
        "notices[{n2026_01}] (2026-01).text_sha256: Does not match the text: SHA-256 of "
        "UTF-8(text_zh + 2 newlines + text_en) is {sha_2026_01}.",
    ),
    (
        "notice_version_duplicate",
        _append("notices", lambda d: {**notice(d, "2026-09"), "text_en": "Another text."}),
        "notices[2] (2026-09).version: Duplicate notice version 2026-09 (first at notices[1]).",
    ),
    (
        "notice_same_text_as_another",
        _same_text_as_first,
        "notices[{n2026_09}] (2026-09).text_zh: Same text as notice 2026-01; each version "
        "needs its own.",
    ),
    (
        "notice_effective_date_invalid",
        _set(notice, "2026-01", effective_date="2026-13-01"),
        "notices[{n2026_01}] (2026-01).effective_date: Not a valid date.",
    ),
    (
        "notice_material_change_missing",
        _drop(notice, "2026-09", "material_change"),
        "notices[{n2026_09}] (2026-09).material_change: Missing data for required field.",
    ),
]


def _expected(template: str, doc: Doc) -> str:
    """Fill in entry indexes ({mobile}, {analytics}, {n2026_01}) and the notice hash."""
    names: dict[str, Any] = {f["name"]: i for i, f in enumerate(doc["fields"])}
    names |= {p["id"]: i for i, p in enumerate(doc["purposes"])}
    names |= {"n" + n["version"].replace("-", "_"): i for i, n in enumerate(doc["notices"])}
    names["sha_2026_01"] = _notice_2026_01_sha(doc)
    return template.format(**names)


def test_default_catalog_is_valid(default_document: Doc) -> None:
    doc = parse_document(default_document)

    assert doc.version == "2026.11.2"
    assert (len(doc.fields), len(doc.purposes), len(doc.notices)) == (20, 7, 2)


@pytest.mark.parametrize(
    ("change", "template"),
    [pytest.param(change, template, id=case) for case, change, template in BAD_DOCUMENTS],
)
def test_bad_document_is_refused_naming_the_entry_and_writes_nothing(
    db: Session,
    catalog: LoadResult,
    next_document: Doc,
    catalog_state: Any,
    change: Callable[[Doc], None],
    template: str,
) -> None:
    before = catalog_state()
    expected = _expected(template, next_document)
    change(next_document)

    with pytest.raises(CatalogInvalid) as refused:
        load_catalog(db, next_document, source="next.yaml")
    db.rollback()
    db.commit()

    assert expected in refused.value.messages
    assert refused.value.detail.startswith("next.yaml: the catalog is invalid")
    assert refused.value.problem.status == 422
    assert catalog_state() == before


def test_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(CatalogInvalid) as refused:
        parse_document(["version", "fields"])

    assert refused.value.messages == [
        "document: The catalog must be a mapping with version, fields, purposes, notices."
    ]


def test_every_problem_is_reported_not_just_the_first(default_document: Doc) -> None:
    field(default_document, "mobile")["tier"] = "gold"
    purpose(default_document, "analytics")["legal_basis"] = "legitimate_interest"

    with pytest.raises(CatalogInvalid) as refused:
        parse_document(default_document)

    assert len(refused.value.messages) == 2


def test_notice_text_sha256_is_computed_when_absent(default_document: Doc) -> None:
    first = notice(default_document, "2026-01")
    first.pop("text_sha256", None)

    doc = parse_document(default_document)

    expected = notice_text_sha256(first["text_zh"], first["text_en"])
    assert doc.notices[0].text_sha256 == expected
    assert len(expected) == 64


def test_notice_text_sha256_is_accepted_when_it_matches(default_document: Doc) -> None:
    first = notice(default_document, "2026-01")
    first["text_sha256"] = _notice_2026_01_sha(default_document)

    doc = parse_document(default_document)

    assert doc.notices[0].text_sha256 == first["text_sha256"]


def test_notice_canonical_text_is_zh_blank_line_en() -> None:
    import hashlib

    assert (
        notice_text_sha256("中文", "English")
        == hashlib.sha256("中文\n\nEnglish".encode()).hexdigest()
    )


def test_document_hash_ignores_spelling_of_defaults_and_dates(default_document: Doc) -> None:
    plain = document_sha256(canonical_document(parse_document(default_document)))
    spelled = default_document
    notice(spelled, "2026-01")["effective_date"] = "2026-01-01"  # YAML gave a date object
    notice(spelled, "2026-01")["text_sha256"] = _notice_2026_01_sha(spelled)
    del field(spelled, "nickname")["free_text"]  # defaults to false

    assert document_sha256(canonical_document(parse_document(spelled))) == plain


def test_document_hash_changes_with_content(default_document: Doc) -> None:
    before = document_sha256(canonical_document(parse_document(default_document)))
    field(default_document, "city")["retention_days"] = 366

    assert document_sha256(canonical_document(parse_document(default_document))) != before
