"""Writing protected profiles and finding subjects by identifier.

Every value is checked against the field catalog before anything is written: a field that
is not catalogued, or a value of the wrong type, is refused with a ``validation-error``
naming the field (never the value), and nothing is stored. Values are written as
ciphertexts (see :mod:`governance.profiles.crypto`); identifier fields also get a blind
index. Rows are written with SQLAlchemy Core inserts, so one path serves single writes and
bulk loads (:class:`SubjectBatch`).

There is deliberately no function here that returns decrypted values: profile data leaves
the platform only through the guarded read. Lookups (:func:`find_subject_by`) use blind
indexes and return subject ids only.

Services receive a session and never commit.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Table, and_, insert, inspect, literal, select, update
from sqlalchemy import column as sa_column
from sqlalchemy import table as sa_table
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause

from consent.catalog.models import CatalogField
from governance.brands import DEFAULT_BRAND, require_brand
from governance.db import utcnow
from governance.errors import ApiError
from governance.profiles.crypto import ProfileCrypto, SubjectCipher, profile_crypto
from governance.profiles.models import BlindIndex, ProfileValue, Subject, SubjectKey
from governance.profiles.pii_guard import guard_free_text
from governance.profiles.vault import write_keys as write_vault_keys

__all__ = [
    "SUBJECT_ID_PREFIX",
    "BatchRows",
    "FieldSpec",
    "SubjectBatch",
    "create_subject",
    "find_subject_by",
    "insert_rows",
    "load_field_specs",
    "new_subject_id",
    "prepare_values",
    "put_values",
    "validate_values",
]

SUBJECT_ID_PREFIX = "sub_"
# The field copied, in clear, to ``subjects.birth_year`` for the art. 31 (under 14) rule.
BIRTH_YEAR_FIELD = "birth_year"

_SUBJECTS: Table = Subject.__table__  # type: ignore[assignment]
_VALUES: Table = ProfileValue.__table__  # type: ignore[assignment]
_INDEXES: Table = BlindIndex.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the store needs to know about a catalogued field."""

    name: str
    value_type: str
    identifier: bool
    free_text: bool
    pii_on_write: str = "reject"
    pii_allowed: tuple[str, ...] = ()


def load_field_specs(db: Session) -> dict[str, FieldSpec]:
    """The current field catalog, by field name."""
    rows = db.execute(
        select(
            CatalogField.name,
            CatalogField.value_type,
            CatalogField.identifier,
            CatalogField.free_text,
            CatalogField.pii_on_write,
            CatalogField.pii_allowed,
        )
    )
    return {
        row.name: FieldSpec(
            row.name,
            row.value_type,
            bool(row.identifier),
            bool(row.free_text),
            row.pii_on_write,
            tuple(row.pii_allowed or ()),
        )
        for row in rows
    }


def new_subject_id(rng: random.Random | None = None) -> str:
    """An opaque subject id: ``sub_`` and 128 random bits, URL-safe base64.

    ``rng`` (seeded) makes demo data reproducible; otherwise the bits come from the OS.
    """
    raw = rng.randbytes(16) if rng is not None else secrets.token_bytes(16)
    return SUBJECT_ID_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# -- validation ------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_string(value: Any) -> tuple[Any, str | None]:
    return (value, None) if isinstance(value, str) else (value, "Expected a string.")


def _check_integer(value: Any) -> tuple[Any, str | None]:
    return (value, None) if _is_int(value) else (value, "Expected an integer.")


def _check_number(value: Any) -> tuple[Any, str | None]:
    if _is_int(value) or (isinstance(value, float) and math.isfinite(value)):
        return value, None
    return value, "Expected a finite number."


def _check_list(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value), None
    return value, "Expected a list of strings."


def _check_date(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, dt.datetime):
        return value, "Expected a date (YYYY-MM-DD), not a date and time."
    if isinstance(value, dt.date):
        return value.isoformat(), None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat(), None
        except ValueError:
            pass
    return value, "Expected a date (YYYY-MM-DD)."


_CHECKS = {
    "string": _check_string,
    "integer": _check_integer,
    "number": _check_number,
    "list": _check_list,
    "date": _check_date,
}


def validate_values(specs: Mapping[str, FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``values`` against the catalog; return them in canonical form.

    Raises a ``validation-error`` naming every unknown field and every mistyped value
    (the messages never quote a value). Free text then passes the PII guard
    (:func:`governance.profiles.pii_guard.guard_free_text`): refused, or masked.
    """
    return prepare_values(specs, values)[0]


def prepare_values(
    specs: Mapping[str, FieldSpec], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """:func:`validate_values`, and the names of the free-text fields whose PII was masked."""
    return guard_free_text(specs, _typed_values(specs, values))


def _typed_values(specs: Mapping[str, FieldSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is None:
            errors[name] = ["Not in the field catalog; it cannot be stored."]
            continue
        check = _CHECKS.get(spec.value_type)
        if check is None:
            errors[name] = [f"The catalog's value type {spec.value_type!r} is not supported."]
            continue
        clean[name], problem = check(value)
        if problem:
            errors[name] = [problem]
    if errors:
        fields = ", ".join(sorted(errors))
        raise ApiError(
            "validation-error", f"Some profile fields are refused: {fields}.", errors=errors
        )
    return clean


# -- rows ------------------------------------------------------------------------------------


@dataclass(slots=True)
class BatchRows:
    """Encrypted rows of new subjects, one list per table, ready for bulk inserts.

    Plain data (strings, bytes, ints), so it can travel between processes. Timestamps
    are not in the rows: :func:`insert_rows` stamps the whole batch at once.
    """

    subjects: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    values: list[dict[str, Any]] = field(default_factory=list)
    indexes: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.subjects)


def _untyped(table: Table) -> TableClause:
    """A lightweight copy of ``table`` whose columns have no type, hence no bind processing.

    Bulk rows hold values the driver takes as they are (str, int, bytes, None); skipping
    SQLAlchemy's per-value type processing roughly halves the cost of a bulk insert.
    """
    return sa_table(table.name, *(sa_column(c.name) for c in table.columns))


_BULK = {t.name: _untyped(t) for t in (_SUBJECTS, _VALUES, _INDEXES)}
# The timestamp column of each bulk table, filled with one pre-processed value per batch.
_BULK_TIMESTAMP = {
    _SUBJECTS.name: _SUBJECTS.c.created_at,
    _VALUES.name: _VALUES.c.updated_at,
}


def insert_rows(db: Session, rows: BatchRows, *, vault: Engine | None = None) -> int:
    """Write ``rows`` with one Core executemany insert per table, in foreign-key order.

    The data keys go to the key vault (``vault``, default: the one ``db`` routes
    :class:`SubjectKey` to), committed there first (:func:`vault.write_keys`); the rest on
    ``db``. Returns the number of subjects written; the caller commits.
    """
    if rows.keys:
        target = vault if vault is not None else db.get_bind(mapper=inspect(SubjectKey))
        if not isinstance(target, Engine):
            raise TypeError("the key vault must be an engine (its writes commit on their own)")
        write_vault_keys(target, rows.keys)
    dialect = db.get_bind().dialect
    now = utcnow()
    for table, batch in (
        (_SUBJECTS, rows.subjects),
        (_VALUES, rows.values),
        (_INDEXES, rows.indexes),
    ):
        if not batch:
            continue
        stmt = insert(_BULK[table.name])
        ts_column = _BULK_TIMESTAMP.get(table.name)
        if ts_column is not None:
            # Convert the batch's timestamp once, exactly as the column type would.
            process = ts_column.type.dialect_impl(dialect).bind_processor(dialect)
            value = process(now) if process else now
            stmt = stmt.values({ts_column.name: literal(value)})
        db.execute(stmt, batch)
    return len(rows.subjects)


@dataclass(slots=True)
class SubjectBatch:
    """Collects new subjects, validated and encrypted, as :class:`BatchRows`.

    ``add`` validates and encrypts one subject; ``take`` hands over (and forgets) the
    rows collected so far; ``flush`` writes them on the given session, which the caller
    commits.
    """

    specs: Mapping[str, FieldSpec]
    crypto: ProfileCrypto
    rows: BatchRows = field(default_factory=BatchRows)

    def __len__(self) -> int:
        return len(self.rows)

    def add(
        self,
        subject_id: str,
        values: Mapping[str, Any],
        *,
        validated: bool = False,
        brand: str = DEFAULT_BRAND,
    ) -> None:
        """Encrypt one new subject's ``values`` into the batch (a customer of ``brand``)."""
        clean = dict(values) if validated else validate_values(self.specs, values)
        cipher, wrapped = self.crypto.new_subject_key(subject_id)
        birth_year = clean.get(BIRTH_YEAR_FIELD)
        self.rows.subjects.append(
            {
                "id": subject_id,
                "brand_id": brand,
                "birth_year": birth_year if _is_int(birth_year) else None,
            }
        )
        self.rows.keys.append(
            {"subject_id": subject_id, "key_version": cipher.key_version, "wrapped_key": wrapped}
        )
        self.rows.values.extend(_value_rows(cipher, clean))
        self.rows.indexes.extend(_index_rows(self.crypto, self.specs, subject_id, clean))

    def take(self) -> BatchRows:
        """The rows collected so far; the batch starts empty again."""
        rows, self.rows = self.rows, BatchRows()
        return rows

    def flush(self, db: Session, *, vault: Engine | None = None) -> int:
        """Insert the collected rows; return how many subjects were written."""
        return insert_rows(db, self.take(), vault=vault)


def _value_rows(cipher: SubjectCipher, values: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "subject_id": cipher.subject_id,
            "field": name,
            "key_version": cipher.key_version,
            "ciphertext": cipher.encrypt(name, value),
        }
        for name, value in values.items()
    ]


def _index_rows(
    crypto: ProfileCrypto,
    specs: Mapping[str, FieldSpec],
    subject_id: str,
    values: Mapping[str, Any],
) -> list[dict[str, Any]]:
    return [
        {"subject_id": subject_id, "field": name, "digest": crypto.blind_index(name, value)}
        for name, value in values.items()
        if specs[name].identifier and isinstance(value, str)
    ]


# -- services --------------------------------------------------------------------------------


def create_subject(
    db: Session,
    values: Mapping[str, Any],
    *,
    subject_id: str | None = None,
    crypto: ProfileCrypto | None = None,
    brand: str = DEFAULT_BRAND,
    validated: bool = False,
) -> str:
    """Create a customer of ``brand`` with a new data key and its encrypted ``values``.

    Returns the new subject's id. ``validated``: ``values`` come from
    :func:`prepare_values` already.
    """
    subject_id = subject_id or new_subject_id()
    require_brand(db, brand)
    if db.get(Subject, subject_id) is not None:
        raise ApiError("conflict", f"Subject {subject_id} already exists.")
    batch = SubjectBatch(load_field_specs(db), crypto or profile_crypto())
    batch.add(subject_id, values, brand=brand, validated=validated)
    batch.flush(db)
    return subject_id


def put_values(
    db: Session,
    subject_id: str,
    values: Mapping[str, Any],
    *,
    crypto: ProfileCrypto | None = None,
    validated: bool = False,
) -> None:
    """Set (insert or replace) encrypted ``values`` of an existing subject.

    ``validated``: ``values`` come from :func:`prepare_values` already.
    """
    specs = load_field_specs(db)
    clean = dict(values) if validated else validate_values(specs, values)
    subject = db.get(Subject, subject_id)
    if subject is None:
        raise ApiError("not-found", f"No subject {subject_id}.")
    if subject.erased_at is not None:
        raise ApiError("conflict", f"Subject {subject_id} has been erased.")
    key = db.get(SubjectKey, subject_id)
    if key is None:
        raise ApiError("conflict", f"Subject {subject_id} has no data key.")
    crypto = crypto or profile_crypto()
    cipher = crypto.open_subject_key(subject_id, key.key_version, key.wrapped_key)
    if not clean:
        return
    now = utcnow()
    names = list(clean)
    have_value = set(
        db.scalars(
            select(ProfileValue.field).where(
                ProfileValue.subject_id == subject_id, ProfileValue.field.in_(names)
            )
        )
    )
    have_index = set(
        db.scalars(
            select(BlindIndex.field).where(
                BlindIndex.subject_id == subject_id, BlindIndex.field.in_(names)
            )
        )
    )
    for row in _value_rows(cipher, clean):
        if row["field"] in have_value:
            db.execute(
                update(_VALUES)
                .where(and_(_VALUES.c.subject_id == subject_id, _VALUES.c.field == row["field"]))
                .values(
                    key_version=row["key_version"],
                    ciphertext=row["ciphertext"],
                    updated_at=now,
                )
            )
        else:
            db.execute(insert(_VALUES).values(updated_at=now), [row])
    for row in _index_rows(crypto, specs, subject_id, clean):
        if row["field"] in have_index:
            db.execute(
                update(_INDEXES)
                .where(and_(_INDEXES.c.subject_id == subject_id, _INDEXES.c.field == row["field"]))
                .values(digest=row["digest"])
            )
        else:
            db.execute(insert(_INDEXES), [row])
    if _is_int(clean.get(BIRTH_YEAR_FIELD)):
        subject.birth_year = clean[BIRTH_YEAR_FIELD]


def find_subject_by(
    db: Session,
    field_name: str,
    value: str,
    *,
    crypto: ProfileCrypto | None = None,
    brand: str | None = None,
) -> list[str]:
    """Ids of the (not erased) subjects whose identifier ``field_name`` equals ``value``.

    Only the keyed blind index is consulted; nothing is decrypted. ``brand``: the asker's
    (only that brand's customers are found; None: the whole group).
    """
    spec = load_field_specs(db).get(field_name)
    if spec is None or not spec.identifier:
        raise ApiError(
            "validation-error",
            f"Field {field_name!r} is not an identifier field of the catalog.",
            errors={"field": ["Choose an identifier field (with a blind index)."]},
        )
    if not isinstance(value, str) or not value.strip():
        raise ApiError(
            "validation-error", "A value to look up is required.", errors={"value": ["Empty."]}
        )
    digest = (crypto or profile_crypto()).blind_index(field_name, value)
    rows = db.scalars(
        select(BlindIndex.subject_id)
        .join(Subject, Subject.id == BlindIndex.subject_id)
        .where(
            BlindIndex.field == field_name,
            BlindIndex.digest == digest,
            Subject.erased_at.is_(None),
            *([Subject.brand_id == brand] if brand is not None else []),
        )
        .order_by(BlindIndex.subject_id)
    )
    return list(rows)
