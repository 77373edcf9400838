r"""The catalog document: marshmallow schemas, cross-checks and clear error messages.

A catalog document (``default.yaml`` is one) has four keys: ``version``, ``fields``,
``purposes`` and ``notices``. :func:`parse_document` validates one and returns a
:class:`CatalogDocument`; every problem is reported as one line that names the entry, e.g.
``fields[3] (bank_card_number).tier: Must be one of: basic, behaviour, payment.``

Besides the per-entry rules, the document is cross-checked: unique field names, purpose ids
and notice versions; notices only name purposes the document defines; separate consent
(PIPL arts. 23, 25, 29, 39) states its reason; third-party provision, joint modelling and
cross-border transfer name their recipient (and cross-border its country); PIPL-sensitive
fields are classified ``sensitive`` or ``core``.

:func:`canonical_document` is the normalised, JSON-safe form that is hashed
(:func:`document_sha256`) and stored; a notice's ``text_sha256`` is always the SHA-256 of
its canonical text, UTF-8 of ``text_zh + "\n\n" + text_en`` (:func:`notice_text_sha256`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    post_load,
    validate,
    validates_schema,
)
from marshmallow import fields as mf

from consent.catalog.countries import HOME_COUNTRY, ISO_3166_ALPHA2
from consent.tiers import Tier
from governance.errors import ApiError

__all__ = [
    "CLASSIFICATIONS",
    "LEGAL_BASES",
    "PII_ON_WRITE",
    "SEPARATE_CONSENT_REASONS",
    "VALUE_TYPES",
    "CatalogConflict",
    "CatalogDocument",
    "CatalogError",
    "CatalogInvalid",
    "FieldSpec",
    "NoticeSpec",
    "PurposeSpec",
    "canonical_document",
    "document_sha256",
    "notice_text_sha256",
    "parse_document",
    "version_key",
]

TIERS = [t.value for t in Tier]
#: What the PII guard does with a free-text value holding PII the field may not hold.
PII_REJECT, PII_MASK = "reject", "mask"
PII_ON_WRITE = [PII_REJECT, PII_MASK]
CLASSIFICATIONS = ["public", "internal", "sensitive", "core"]
SENSITIVE_CLASSIFICATIONS = frozenset({"sensitive", "core"})
VALUE_TYPES = ["string", "integer", "number", "list", "date"]
# PIPL art. 13: the lawful bases for handling personal information.
LEGAL_BASES = [
    "consent",
    "contract",
    "legal_obligation",
    "vital_interest",
    "public_interest",
    "news_reporting",
    "public_information",
]
# Why a purpose needs separate consent, with the PIPL article that demands it.
SEPARATE_CONSENT_REASONS: dict[str, str] = {
    "sensitive_pi": "art. 29",
    "third_party_provision": "art. 23",
    "public_disclosure": "art. 25",
    "cross_border": "art. 39",
}
# Reasons that hand data to someone else, who must therefore be named.
RECIPIENT_REASONS = frozenset({"third_party_provision", "cross_border"})
JOINT_MODELLING_PREFIX = "joint_modelling"

VERSION_RE = r"^[0-9]+(\.[0-9]+){0,3}$"
NOTICE_VERSION_RE = r"^[0-9A-Za-z][0-9A-Za-z._-]*$"
SNAKE_CASE_RE = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"

MAX_FIELDS = 2000
MAX_PURPOSES = 500
MAX_NOTICES = 500
MAX_EXPLANATION = 4000
MAX_NOTICE_TEXT = 200_000
MAX_RETENTION_DAYS = 36_500

_NOT_SNAKE = "Must be snake_case: lower-case letters, digits and single underscores."


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ValidationError("Must not be empty.")


def _text(max_len: int) -> mf.String:
    """A required, non-blank text of at most ``max_len`` characters."""
    return mf.String(required=True, validate=[validate.Length(min=1, max=max_len), _not_blank])


def _snake(max_len: int) -> mf.String:
    return mf.String(
        required=True,
        validate=[
            validate.Length(min=1, max=max_len),
            validate.Regexp(SNAKE_CASE_RE, error=_NOT_SNAKE),
        ],
    )


class StrictBoolean(mf.Boolean):
    """A YAML/JSON boolean only: ``"yes"``, ``1`` or ``"true"`` are refused, not guessed."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class StrictInteger(mf.Integer):
    """An integer only: floats, strings and booleans are refused."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        return value


def notice_text_sha256(text_zh: str, text_en: str) -> str:
    r"""SHA-256 (hex) of a notice's canonical text: UTF-8 of ``text_zh + "\n\n" + text_en``."""
    return hashlib.sha256(f"{text_zh}\n\n{text_en}".encode()).hexdigest()


@dataclass(frozen=True)
class FieldSpec:
    """A profile field as the document defines it."""

    name: str
    category: str
    tier: str
    classification: str
    pipl_sensitive: bool
    free_text: bool
    identifier: bool
    value_type: str
    retention_days: int
    label_zh: str
    label_en: str
    pii_on_write: str = "reject"
    pii_allowed: tuple[str, ...] = ()


@dataclass(frozen=True)
class PurposeSpec:
    """A purpose as the document defines it."""

    id: str
    legal_basis: str
    required_tier: str
    separate_consent: bool
    separate_consent_reason: str | None
    optional: bool
    recipient: str | None
    recipient_country: str | None
    name_zh: str
    name_en: str
    explanation_zh: str
    explanation_en: str


@dataclass(frozen=True)
class NoticeSpec:
    """A privacy-notice version as the document defines it (``text_sha256`` computed)."""

    version: str
    effective_date: dt.date
    material_change: bool
    purposes: list[str]
    text_zh: str
    text_en: str
    text_sha256: str


@dataclass(frozen=True)
class CatalogDocument:
    """A validated catalog document."""

    version: str
    fields: list[FieldSpec]
    purposes: list[PurposeSpec]
    notices: list[NoticeSpec]


class FieldSchema(Schema):
    """One profile field."""

    class Meta:
        unknown = RAISE

    name = _snake(64)
    category = _snake(32)
    tier = mf.String(required=True, validate=validate.OneOf(TIERS))
    classification = mf.String(required=True, validate=validate.OneOf(CLASSIFICATIONS))
    pipl_sensitive = StrictBoolean(load_default=False)
    free_text = StrictBoolean(load_default=False)
    identifier = StrictBoolean(
        load_default=False, metadata={"description": "gets a blind index for exact lookup"}
    )
    value_type = mf.String(required=True, validate=validate.OneOf(VALUE_TYPES))
    retention_days = StrictInteger(
        required=True,
        validate=validate.Range(
            min=1, max=MAX_RETENTION_DAYS, error="Must be a number of days from 1 to {max}."
        ),
    )
    label_zh = _text(128)
    label_en = _text(128)
    pii_on_write = mf.String(
        load_default=PII_REJECT,
        validate=validate.OneOf(PII_ON_WRITE),
        metadata={
            "description": "free text only: a value holding PII it may not is refused "
            "(reject) or stored with that PII masked (mask)"
        },
    )
    pii_allowed = mf.List(
        mf.String(validate=validate.Regexp(r"^[A-Z][A-Z0-9_]{1,47}$")),
        load_default=list,
        validate=validate.Length(max=32),
        metadata={"description": "free text only: PII entity types the field may hold"},
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        if not data["free_text"]:
            if data["pii_on_write"] != PII_REJECT:
                errors["pii_on_write"] = ["Only a free-text field is scanned for PII."]
            if data["pii_allowed"]:
                errors["pii_allowed"] = ["Only a free-text field is scanned for PII."]
        if data["pipl_sensitive"] and data["classification"] not in SENSITIVE_CLASSIFICATIONS:
            errors["classification"] = [
                "A PIPL-sensitive field (art. 28) must be classified sensitive or core."
            ]
        if data["identifier"] and data["value_type"] != "string":
            errors.setdefault("value_type", []).append(
                "An identifier (blind-indexed) field must have value_type string."
            )
        if data["free_text"] and data["value_type"] != "string":
            errors.setdefault("value_type", []).append(
                "A free-text field must have value_type string."
            )
        if data["free_text"] and data["identifier"]:
            errors["free_text"] = ["A field cannot be both free text and an identifier."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> FieldSpec:
        data["pii_allowed"] = tuple(sorted(set(data["pii_allowed"])))
        return FieldSpec(**data)


class PurposeSchema(Schema):
    """One purpose of use."""

    class Meta:
        unknown = RAISE

    id = _snake(64)
    legal_basis = mf.String(required=True, validate=validate.OneOf(LEGAL_BASES))
    required_tier = mf.String(required=True, validate=validate.OneOf(TIERS))
    separate_consent = StrictBoolean(load_default=False)
    separate_consent_reason = mf.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(list(SEPARATE_CONSENT_REASONS)),
    )
    optional = StrictBoolean(
        required=True, metadata={"description": "refusing it never blocks the service"}
    )
    recipient = mf.String(
        load_default=None, allow_none=True, validate=[validate.Length(max=128), _not_blank]
    )
    recipient_country = mf.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf(
            sorted(ISO_3166_ALPHA2),
            error="Must be an ISO 3166-1 alpha-2 country code in capitals, such as SG.",
        ),
    )
    name_zh = _text(128)
    name_en = _text(128)
    explanation_zh = _text(MAX_EXPLANATION)
    explanation_en = _text(MAX_EXPLANATION)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        reason = data["separate_consent_reason"]
        recipient = data["recipient"]
        country = data["recipient_country"]

        def add(key: str, message: str) -> None:
            errors.setdefault(key, []).append(message)

        if data["separate_consent"]:
            if reason is None:
                reasons = ", ".join(f"{k} ({v})" for k, v in SEPARATE_CONSENT_REASONS.items())
                add(
                    "separate_consent_reason", f"Required with separate consent; one of: {reasons}."
                )
            if data["legal_basis"] != "consent":
                add("legal_basis", "A purpose needing separate consent must rest on consent.")
        elif reason is not None:
            add("separate_consent", f"Must be true when separate_consent_reason is {reason}.")
        needs_recipient = reason in RECIPIENT_REASONS or data["id"].startswith(
            JOINT_MODELLING_PREFIX
        )
        if needs_recipient and recipient is None:
            kind = reason if reason in RECIPIENT_REASONS else "joint modelling"
            add("recipient", f"Required for {kind}: name who receives the data.")
        if reason == "cross_border":
            if country is None:
                add("recipient_country", "Required for cross_border: the recipient's country.")
            elif country == HOME_COUNTRY:
                add("recipient_country", "A cross-border recipient cannot be in CN.")
        elif country is not None and country != HOME_COUNTRY:
            add(
                "separate_consent_reason",
                f"A recipient in {country} is a cross-border transfer: "
                "separate consent with reason cross_border is required (art. 39).",
            )
        if country is not None and recipient is None and not needs_recipient:
            add("recipient", "Required when recipient_country is given.")
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> PurposeSpec:
        return PurposeSpec(**data)


class NoticeSchema(Schema):
    """One privacy-notice version."""

    class Meta:
        unknown = RAISE

    version = mf.String(
        required=True,
        validate=[
            validate.Length(min=1, max=32),
            validate.Regexp(
                NOTICE_VERSION_RE, error="Must be letters, digits, '.', '_' or '-', e.g. 2026-09."
            ),
        ],
    )
    effective_date = mf.Date(required=True)
    material_change = StrictBoolean(required=True)
    purposes = mf.List(
        mf.String(validate=validate.Length(min=1, max=64)),
        required=True,
        validate=validate.Length(min=1, max=MAX_PURPOSES),
    )
    text_zh = _text(MAX_NOTICE_TEXT)
    text_en = _text(MAX_NOTICE_TEXT)
    text_sha256 = mf.String(
        load_default=None,
        allow_none=True,
        metadata={"description": 'SHA-256 of UTF-8(text_zh + "\\n\\n" + text_en)'},
    )

    @validates_schema
    def _consistent(self, data: dict[str, Any], **_kwargs: Any) -> None:
        errors: dict[str, list[str]] = {}
        computed = notice_text_sha256(data["text_zh"], data["text_en"])
        given = data.get("text_sha256")
        if given is not None and given.lower() != computed:
            errors["text_sha256"] = [
                f"Does not match the text: SHA-256 of UTF-8(text_zh + 2 newlines + text_en) "
                f"is {computed}."
            ]
        seen: set[str] = set()
        for purpose in data["purposes"]:
            if purpose in seen:
                errors.setdefault("purposes", []).append(f"Purpose {purpose} is listed twice.")
            seen.add(purpose)
        if errors:
            raise ValidationError(errors)

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> NoticeSpec:
        data["text_sha256"] = notice_text_sha256(data["text_zh"], data["text_en"])
        return NoticeSpec(**data)


class CatalogDocumentSchema(Schema):
    """A whole catalog document."""

    class Meta:
        unknown = RAISE

    version = mf.String(
        required=True,
        validate=[
            validate.Length(min=1, max=32),
            validate.Regexp(
                VERSION_RE, error="Must be a dotted number such as 2026.11.1 (quote it in YAML)."
            ),
        ],
    )
    # Named ``fields`` in the document and the dataclass; not as an attribute here, where
    # it would shadow ``Schema.fields``.
    field_list = mf.List(
        mf.Nested(FieldSchema),
        required=True,
        data_key="fields",
        attribute="fields",
        validate=validate.Length(min=1, max=MAX_FIELDS),
    )
    purposes = mf.List(
        mf.Nested(PurposeSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_PURPOSES),
    )
    notices = mf.List(
        mf.Nested(NoticeSchema),
        required=True,
        validate=validate.Length(min=1, max=MAX_NOTICES),
    )

    @post_load
    def _make(self, data: dict[str, Any], **_kwargs: Any) -> CatalogDocument:
        return CatalogDocument(**data)


class CatalogError(ApiError):
    """A catalog that cannot be loaded; ``messages`` holds one line per problem."""

    slug = "bad-request"
    summary = "the catalog cannot be loaded"

    def __init__(self, messages: list[str], source: str | None = None) -> None:
        self.messages = messages
        self.source = source
        where = f"{source}: " if source else ""
        count = f"{len(messages)} problem{'s' if len(messages) != 1 else ''}"
        shown = "; ".join(messages[:5]) + ("; ..." if len(messages) > 5 else "")
        super().__init__(
            self.slug, f"{where}{self.summary} ({count}): {shown}", errors={"catalog": messages}
        )


class CatalogInvalid(CatalogError):
    """A catalog document (or file) that fails validation."""

    slug = "validation-error"
    summary = "the catalog is invalid"


class CatalogConflict(CatalogError):
    """A valid catalog that conflicts with what is already loaded."""

    slug = "conflict"
    summary = "the catalog conflicts with the loaded one"


# -- error messages that name the entry ----------------------------------------------------

_LABEL_KEYS = {"fields": "name", "purposes": "id", "notices": "version"}


def _entry_label(list_path: str, item: Any) -> str:
    key = _LABEL_KEYS.get(list_path)
    if key is None or not isinstance(item, Mapping):
        return ""
    label = item.get(key)
    if not isinstance(label, str) or not label:
        return ""
    return f" ({label[:64]})"


def _walk(messages: Any, raw: Any, path: str, out: list[str]) -> None:
    """Flatten marshmallow's nested messages into ``path: message`` lines."""
    if isinstance(messages, Mapping):
        for key, sub in messages.items():
            if key == "_schema":
                _walk(sub, raw, path, out)
            elif isinstance(key, int):
                item = raw[key] if isinstance(raw, list) and 0 <= key < len(raw) else None
                _walk(sub, item, f"{path}[{key}]{_entry_label(path, item)}", out)
            else:
                child = raw.get(key) if isinstance(raw, Mapping) else None
                _walk(sub, child, f"{path}.{key}" if path else str(key), out)
    elif isinstance(messages, list):
        for message in messages:
            if isinstance(message, Mapping | list):
                _walk(message, raw, path, out)
            else:
                out.append(f"{path or 'document'}: {message}")
    else:
        out.append(f"{path or 'document'}: {messages}")


def error_lines(messages: Any, raw: Any) -> list[str]:
    """One ``path: message`` line per problem, entries named by their name, id or version."""
    out: list[str] = []
    _walk(messages, raw, "", out)
    return out


# -- cross-checks --------------------------------------------------------------------------


def _cross_check(doc: CatalogDocument) -> dict[str, Any]:
    errors: dict[str, Any] = {}

    def add(section: str, index: int, key: str, message: str) -> None:
        errors.setdefault(section, {}).setdefault(index, {}).setdefault(key, []).append(message)

    def unique(section: str, key: str, values: list[str], what: str) -> None:
        first: dict[str, int] = {}
        for index, value in enumerate(values):
            if value in first:
                add(
                    section,
                    index,
                    key,
                    f"Duplicate {what} {value} (first at {section}[{first[value]}]).",
                )
            else:
                first[value] = index

    unique("fields", "name", [f.name for f in doc.fields], "field name")
    unique("purposes", "id", [p.id for p in doc.purposes], "purpose id")
    unique("notices", "version", [n.version for n in doc.notices], "notice version")
    first_text: dict[str, int] = {}
    for index, notice in enumerate(doc.notices):
        if notice.text_sha256 in first_text:
            other = doc.notices[first_text[notice.text_sha256]].version
            add(
                "notices",
                index,
                "text_zh",
                f"Same text as notice {other}; each version needs its own.",
            )
        first_text.setdefault(notice.text_sha256, index)
    purpose_ids = {p.id for p in doc.purposes}
    for index, notice in enumerate(doc.notices):
        for purpose in notice.purposes:
            if purpose not in purpose_ids:
                add("notices", index, "purposes", f"Unknown purpose {purpose}: not in purposes.")
    return errors


def parse_document(raw: Any, source: str | None = None) -> CatalogDocument:
    """Validate a catalog document (as parsed from YAML or JSON); raise :class:`CatalogInvalid`."""
    if not isinstance(raw, Mapping):
        raise CatalogInvalid(
            ["document: The catalog must be a mapping with version, fields, purposes, notices."],
            source,
        )
    try:
        doc: CatalogDocument = CatalogDocumentSchema().load(raw)
    except ValidationError as exc:
        raise CatalogInvalid(error_lines(exc.messages, raw), source) from None
    cross = _cross_check(doc)
    if cross:
        raise CatalogInvalid(error_lines(cross, raw), source)
    return doc


def canonical_document(doc: CatalogDocument) -> dict[str, Any]:
    """The normalised, JSON-safe form of ``doc``: defaults filled in, dates as ISO strings."""
    dumped: dict[str, Any] = CatalogDocumentSchema().dump(doc)
    return dumped


def document_sha256(canonical: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of canonical JSON: sorted keys, no whitespace, UTF-8."""
    data = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


def version_key(version: str) -> tuple[int, ...]:
    """Order catalog versions numerically: ``2026.9.1`` < ``2026.11.1``."""
    if not re.fullmatch(VERSION_RE, version):
        raise ValueError(f"not a catalog version: {version!r}")
    return tuple(int(part) for part in version.split("."))
