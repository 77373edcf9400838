"""Load a catalog document into the catalog tables, all or nothing.

Rules:

- The document's hash is the SHA-256 of its canonical JSON (the validated, normalised
  document: defaults filled in, dates as ISO strings, sorted keys, no whitespace, UTF-8).
- Loading a version again with the same hash changes nothing (the result says unchanged);
  the same version with other content is refused, and so is a version that is not newer
  than the current one (versions only move forward, so a stale file cannot roll back).
- A new version upserts fields and purposes (a row's ``catalog_version`` is the version
  that last changed it), records a :class:`CatalogVersion` with the whole document, and
  removes fields and purposes the document no longer lists, unless something still
  refers to them: stored profile values or blind indexes for a field, a privacy notice or
  any other row for a purpose.
- Privacy notices are never deleted, and a loaded notice version is frozen: the same
  version with another text (hash), date, material-change flag or purpose list is refused.
- Every check runs before the first write. The service never commits; on any error the
  caller rolls back, so nothing of a refused catalog is kept.

Files are read with ``yaml.safe_load`` only, at most 5 MB, and must be UTF-8; a YAML error
or a duplicated mapping key is reported with its line and column.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from sqlalchemy import Column, Table, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import audit
import governance.models
from consent.catalog.models import CatalogField, CatalogVersion, PrivacyNotice, Purpose
from consent.catalog.schema import (
    CatalogConflict,
    CatalogDocument,
    CatalogError,
    CatalogInvalid,
    NoticeSpec,
    canonical_document,
    document_sha256,
    parse_document,
    version_key,
)

__all__ = [
    "DEFAULT_CATALOG_PATH",
    "MAX_FILE_BYTES",
    "CatalogTooLarge",
    "LoadResult",
    "TableChanges",
    "load_catalog",
    "load_catalog_bytes",
    "load_catalog_file",
    "parse_yaml",
]

DEFAULT_CATALOG_PATH: Final[Path] = Path(__file__).resolve().with_name("default.yaml")
MAX_FILE_BYTES: Final[int] = 5 * 1024 * 1024

_FIELD_ATTRS = (
    "category",
    "tier",
    "classification",
    "pipl_sensitive",
    "free_text",
    "identifier",
    "value_type",
    "retention_days",
    "label_zh",
    "label_en",
    "pii_on_write",
    "pii_allowed",
)
_PURPOSE_ATTRS = (
    "legal_basis",
    "required_tier",
    "separate_consent",
    "separate_consent_reason",
    "optional",
    "recipient",
    "recipient_country",
    "name_zh",
    "name_en",
    "explanation_zh",
    "explanation_en",
)
_NOTICE_FROZEN = ("effective_date", "material_change", "purposes")


class CatalogTooLarge(CatalogError):
    """A catalog file over :data:`MAX_FILE_BYTES`."""

    slug = "payload-too-large"
    summary = "the catalog file is too large"


@dataclass(frozen=True)
class TableChanges:
    """What a load did to one table: entries in the document, rows added/updated/removed."""

    total: int
    added: int = 0
    updated: int = 0
    removed: int = 0

    def describe(self) -> str:
        """``19 (+2 ~1 -0)``."""
        return f"{self.total} (+{self.added} ~{self.updated} -{self.removed})"


@dataclass(frozen=True)
class LoadResult:
    """The outcome of a load."""

    version: str
    sha256: str
    unchanged: bool
    current_version: str
    fields: TableChanges
    purposes: TableChanges
    notices: TableChanges

    def summary(self) -> str:
        """One line for the CLI."""
        if self.unchanged:
            tail = (
                ""
                if self.current_version == self.version
                else f"; the current catalog is {self.current_version}"
            )
            return (
                f"catalog {self.version} unchanged (sha256 {self.sha256[:12]}): "
                f"{self.fields.total} fields, {self.purposes.total} purposes, "
                f"{self.notices.total} notices; nothing written{tail}"
            )
        return (
            f"catalog {self.version} loaded (sha256 {self.sha256[:12]}): "
            f"fields {self.fields.describe()}, purposes {self.purposes.describe()}, "
            f"notices {self.notices.describe()}"
        )


# -- reading files -------------------------------------------------------------------------


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``line L, column C: invalid YAML: <problem> (<context> at line L, column C)``."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"invalid YAML: {exc}"
    where = ""
    if exc.problem_mark is not None:
        where = f"line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1}: "
    text = f"{where}invalid YAML: {exc.problem or exc.context or 'cannot be parsed'}"
    if exc.problem and exc.context and exc.context_mark is not None:
        mark = exc.context_mark
        text += f" ({exc.context} at line {mark.line + 1}, column {mark.column + 1})"
    return text


def _duplicate_keys(root: yaml.Node | None) -> list[str]:
    """Mapping keys given twice (PyYAML silently keeps the last one)."""
    problems: list[str] = []
    seen: set[int] = set()
    stack: list[yaml.Node] = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:  # an alias: already checked
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value != "<<":
                    where = key.start_mark
                    ident = (key.tag, key.value)
                    if ident in first:
                        problems.append(
                            f"line {where.line + 1}, column {where.column + 1}: duplicate key "
                            f"{key.value!r} (first at line {first[ident]})"
                        )
                    else:
                        first[ident] = where.line + 1
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return problems


def parse_yaml(data: bytes, source: str) -> Any:
    """Parse a catalog file's bytes (UTF-8 YAML, at most 5 MB) with ``yaml.safe_load``."""
    if len(data) > MAX_FILE_BYTES:
        raise CatalogTooLarge([f"file: larger than {MAX_FILE_BYTES} bytes (5 MB); refused"], source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CatalogInvalid(
            [f"file: not UTF-8 (bad byte at offset {exc.start})"], source
        ) from None
    try:
        duplicates = _duplicate_keys(yaml.compose(text, Loader=yaml.SafeLoader))
        if duplicates:
            raise CatalogInvalid(duplicates, source)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogInvalid([_yaml_problem(exc)], source) from None
    except RecursionError:
        raise CatalogInvalid(["file: YAML nested too deeply"], source) from None


def load_catalog_bytes(db: Session, data: bytes, source: str = "<stdin>") -> LoadResult:
    """Parse and load a catalog file's content; ``source`` names it in error messages."""
    return load_catalog(db, parse_yaml(data, source), source=source)


def load_catalog_file(db: Session, path: str | os.PathLike[str]) -> LoadResult:
    """Read, validate and load the catalog file at ``path`` (the caller commits)."""
    path = Path(path)
    source = path.name
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)  # never more than the limit, whatever stat says
    except OSError as exc:
        raise CatalogInvalid([f"file: cannot be read: {exc.strerror}"], str(path)) from None
    return load_catalog_bytes(db, data, source)


# -- loading -------------------------------------------------------------------------------


def _referencing_columns(table: Table, column: str) -> list[Column[Any]]:
    """Every column, in any table of the metadata, with a foreign key to ``table.column``."""
    out: list[Column[Any]] = []
    for other in governance.models.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.references(table) and fk.column.name == column:
                out.append(fk.parent)
    return out


def _still_referenced(db: Session, table: Table, column: str, key: str) -> list[str]:
    """Names of the tables that still hold rows referring to ``key``."""
    holders: list[str] = []
    for ref in _referencing_columns(table, column):
        stmt = select(literal(1)).select_from(ref.table).where(ref == key).limit(1)
        if db.execute(stmt).first() is not None:
            holders.append(ref.table.name)
    return holders


def _notice_problems(doc: CatalogDocument, stored: Mapping[str, PrivacyNotice]) -> list[str]:
    problems: list[str] = []
    by_hash = {n.text_sha256: n.version for n in stored.values()}
    for spec in doc.notices:
        row = stored.get(spec.version)
        if row is None:
            other = by_hash.get(spec.text_sha256)
            if other is not None:
                problems.append(
                    f"notice {spec.version}: same text as the loaded notice {other}; "
                    "each notice version needs its own text"
                )
            continue
        if row.text_sha256 != spec.text_sha256:
            problems.append(
                f"notice {spec.version}: already loaded with another text "
                f"(sha256 {row.text_sha256[:12]}, this file {spec.text_sha256[:12]}); "
                "a published notice cannot change: add a new notice version"
            )
        changed = [a for a in _NOTICE_FROZEN if getattr(row, a) != getattr(spec, a)]
        if changed:
            problems.append(
                f"notice {spec.version}: already loaded with another {', '.join(changed)}; "
                "a published notice cannot change: add a new notice version"
            )
    return problems


def _removal_problems(
    db: Session,
    doc: CatalogDocument,
    removed_fields: Iterable[str],
    removed_purposes: Iterable[str],
    stored_notices: Mapping[str, PrivacyNotice],
) -> list[str]:
    problems: list[str] = []
    field_table = CatalogField.__table__
    purpose_table = Purpose.__table__
    assert isinstance(field_table, Table) and isinstance(purpose_table, Table)
    for name in sorted(removed_fields):
        holders = _still_referenced(db, field_table, "name", name)
        if holders:
            problems.append(
                f"field {name}: cannot be removed, {', '.join(holders)} still holds values "
                "for it; erase or migrate them first, or keep the field"
            )
    kept_notice_versions = {n.version for n in doc.notices}
    for purpose in sorted(removed_purposes):
        notices = sorted(
            v
            for v, n in stored_notices.items()
            if purpose in n.purposes and v not in kept_notice_versions
        )
        if notices:
            problems.append(
                f"purpose {purpose}: cannot be removed, privacy notice {', '.join(notices)} "
                "names it (notices are never deleted)"
            )
        holders = _still_referenced(db, purpose_table, "id", purpose)
        if holders:
            problems.append(
                f"purpose {purpose}: cannot be removed, {', '.join(holders)} still refers to it"
            )
    return problems


def _upsert(
    db: Session,
    model: type[CatalogField] | type[Purpose],
    stored: Mapping[str, Any],
    specs: Iterable[Any],
    key: str,
    attrs: tuple[str, ...],
    version: str,
) -> tuple[int, int]:
    added = updated = 0
    for spec in specs:
        # Tuples (a field's PII types) are stored as JSON lists and compared as lists.
        values: dict[str, Any] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in asdict(spec).items()
        }
        row = stored.get(values[key])
        if row is None:
            db.add(model(**values, catalog_version=version))
            added += 1
        elif any(getattr(row, a) != values[a] for a in attrs):
            for a in attrs:
                setattr(row, a, values[a])
            row.catalog_version = version
            updated += 1
    return added, updated


def _notice_row(spec: NoticeSpec, version: str) -> PrivacyNotice:
    return PrivacyNotice(**asdict(spec), catalog_version=version)


def load_catalog(
    db: Session, document: Mapping[str, Any], *, source: str | None = None
) -> LoadResult:
    """Validate ``document`` and load it (the caller commits, or rolls back on error).

    Raises :class:`~consent.catalog.schema.CatalogInvalid` (validation) or
    :class:`~consent.catalog.schema.CatalogConflict` (clashes with what is loaded), both
    :class:`~governance.errors.ApiError`, before anything is written.
    """
    doc = parse_document(document, source)
    canonical = canonical_document(doc)
    sha = document_sha256(canonical)
    loaded = {v: h for v, h in db.execute(select(CatalogVersion.version, CatalogVersion.sha256))}
    current = max(loaded, key=version_key, default=None)
    counts = (len(doc.fields), len(doc.purposes), len(doc.notices))

    if doc.version in loaded:
        if loaded[doc.version] != sha:
            raise CatalogConflict(
                [
                    f"version: catalog {doc.version} is already loaded with other content "
                    f"(sha256 {loaded[doc.version][:12]}, this file {sha[:12]}); "
                    "give the changed catalog a new version"
                ],
                source,
            )
        return LoadResult(
            version=doc.version,
            sha256=sha,
            unchanged=True,
            current_version=current or doc.version,
            fields=TableChanges(counts[0]),
            purposes=TableChanges(counts[1]),
            notices=TableChanges(counts[2]),
        )
    if current is not None and version_key(doc.version) <= version_key(current):
        raise CatalogConflict(
            [
                f"version: catalog {doc.version} is not newer than the current catalog "
                f"{current}; versions only move forward"
            ],
            source,
        )

    stored_fields = {f.name: f for f in db.scalars(select(CatalogField))}
    stored_purposes = {p.id: p for p in db.scalars(select(Purpose))}
    stored_notices = {n.version: n for n in db.scalars(select(PrivacyNotice))}
    removed_fields = set(stored_fields) - {f.name for f in doc.fields}
    removed_purposes = set(stored_purposes) - {p.id for p in doc.purposes}
    problems = _notice_problems(doc, stored_notices) + _removal_problems(
        db, doc, removed_fields, removed_purposes, stored_notices
    )
    if problems:
        raise CatalogConflict(problems, source)

    # Every check passed: write. The version row first (the others refer to it).
    db.add(CatalogVersion(version=doc.version, sha256=sha, document=canonical))
    try:
        db.flush()
    except IntegrityError:  # another load of this version won the race; the caller rolls back
        raise CatalogConflict(
            [f"version: catalog {doc.version} was loaded by someone else meanwhile; try again"],
            source,
        ) from None
    f_added, f_updated = _upsert(
        db, CatalogField, stored_fields, doc.fields, "name", _FIELD_ATTRS, doc.version
    )
    p_added, p_updated = _upsert(
        db, Purpose, stored_purposes, doc.purposes, "id", _PURPOSE_ATTRS, doc.version
    )
    for name in removed_fields:
        db.delete(stored_fields[name])
    for purpose_id in removed_purposes:
        db.delete(stored_purposes[purpose_id])
    new_notices = [n for n in doc.notices if n.version not in stored_notices]
    db.add_all(_notice_row(n, doc.version) for n in new_notices)
    db.flush()
    result = LoadResult(
        version=doc.version,
        sha256=sha,
        unchanged=False,
        current_version=doc.version,
        fields=TableChanges(counts[0], f_added, f_updated, len(removed_fields)),
        purposes=TableChanges(counts[1], p_added, p_updated, len(removed_purposes)),
        notices=TableChanges(counts[2], len(new_notices)),
    )
    # The load commits with its audit entry, or not at all.
    audit.record(
        db,
        action="catalog.load",
        resource=f"catalog:{doc.version}",
        details={
            "version": doc.version,
            "sha256": sha,
            "previous_version": current,
            "fields": str(result.fields),
            "purposes": str(result.purposes),
            "notices": str(result.notices),
        },
    )
    return result
