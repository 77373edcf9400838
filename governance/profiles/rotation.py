"""Re-wrapping stored secrets under the active KEK, and counting what each KEK still wraps.

After ``governance keys rotate-kek`` the keyring has a new active KEK; secrets wrapped
before stay wrapped by the old one until they are re-wrapped: unwrapped with the old KEK
and wrapped again with the active one, with the same associated data. The data they
protect is not touched: a subject's data key is the same key afterwards, so
``profile_values`` keep their ciphertexts byte for byte.

Three columns hold secrets wrapped by the keyring (:data:`WRAPPED`):

- ``subject_keys.wrapped_key``: each subject's data key (AAD: subject id and key
  version); subjects that are erased are skipped and not counted (their data is meant to
  stay unreadable; erasure destroys the key);
- ``operators.totp_secret_wrapped``: operators' TOTP secrets (AAD: operator id);
- ``consent_subscriptions.secret_wrapped``: webhook signing secrets (AAD: subscription id).

:func:`rewrap_batches` walks each column in primary-key order by keyset pagination
(``WHERE id > :last ORDER BY id LIMIT :n``; nothing is loaded whole), picks only rows not
under the active KEK, and updates a batch with one executemany ``UPDATE ... WHERE id = ?
AND wrapped = ?``: a row changed or deleted meanwhile (an erasure) is left as it is, never
written back. It yields after each batch without committing; the command commits each
batch, so an interrupted run keeps what it did and a new run picks up the rest (rows
already under the active KEK are not selected again).

:func:`kek_usage` counts, in one scan per column, how many secrets each KEK wraps; a KEK
can be retired only when that is zero.

Nothing here reads, logs or returns key material or profile values; errors and results
name key ids, row ids and counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.exceptions import InvalidTag
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    FromClause,
    Table,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.orm import Session

from consent.webhooks.models import WebhookSubscription
from consent.webhooks.services import secret_aad
from governance.auth.models import Operator
from governance.keys import KeyError_, Keyring
from governance.profiles.crypto import subject_key_aad
from governance.profiles.models import Subject, SubjectKey

__all__ = [
    "NOT_IN_KEYRING",
    "WRAPPED",
    "BatchResult",
    "WrappedSecrets",
    "kek_usage",
    "pending",
    "rewrap_batches",
]

#: The key of :func:`kek_usage` results that counts secrets under ids the keyring lacks.
NOT_IN_KEYRING = "(not in keyring)"

_SUBJECTS: Table = Subject.__table__  # type: ignore[assignment]
_KEYS: Table = SubjectKey.__table__  # type: ignore[assignment]
_OPERATORS: Table = Operator.__table__  # type: ignore[assignment]
_SUBSCRIPTIONS: Table = WebhookSubscription.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class WrappedSecrets:
    """A column of secrets wrapped by the KEK keyring, and how each is bound to its row."""

    #: Short name used in output and audit details.
    name: str
    table: Table
    #: The primary-key column: keyset order, and what an UPDATE targets.
    key: str
    #: The column holding ``<kek id>:<text>``.
    wrapped: str
    #: The associated data of a row (given its selected columns by name).
    aad: Callable[[Mapping[Any, Any]], bytes]
    #: Further columns the associated data needs.
    extra: tuple[str, ...] = ()
    #: Joins and conditions that pick the rows that count (e.g. not erased).
    source: Callable[[], FromClause] | None = None
    where: Callable[[], Sequence[ColumnElement[bool]]] = lambda: ()

    def from_clause(self) -> FromClause:
        """The table, joined as :attr:`source` says."""
        return self.source() if self.source is not None else self.table

    def conditions(self) -> list[ColumnElement[bool]]:
        """Rows that hold a secret and count."""
        return [self.table.c[self.wrapped].is_not(None), *self.where()]

    def under(self, kek_id: str) -> ColumnElement[bool]:
        """Rows whose secret is wrapped by ``kek_id`` (exact, case-sensitive prefix)."""
        prefix = f"{kek_id}:"
        return func.substr(self.table.c[self.wrapped], 1, len(prefix)) == prefix


WRAPPED: tuple[WrappedSecrets, ...] = (
    WrappedSecrets(
        name="subject_keys",
        table=_KEYS,
        key="subject_id",
        wrapped="wrapped_key",
        extra=("key_version",),
        # In the key vault (governance.profiles.vault): an erased subject has no row left.
        aad=lambda row: subject_key_aad(row["subject_id"], row["key_version"]),
    ),
    WrappedSecrets(
        name="operator_totp",
        table=_OPERATORS,
        key="id",
        wrapped="totp_secret_wrapped",
        # As governance.auth.services binds it (a test checks a secret still opens there).
        aad=lambda row: f"operator-totp:{row['id']}".encode(),
    ),
    WrappedSecrets(
        name="webhook_secrets",
        table=_SUBSCRIPTIONS,
        key="id",
        wrapped="secret_wrapped",
        aad=lambda row: secret_aad(row["id"]),
    ),
)


# -- counting ----------------------------------------------------------------------------------


def kek_usage(
    db: Session, kek_ids: Sequence[str], kinds: Sequence[WrappedSecrets] = WRAPPED
) -> dict[str, dict[str, int]]:
    """How many secrets of each kind each KEK in ``kek_ids`` wraps.

    Returns ``{kind name: {kek id: count, ..., NOT_IN_KEYRING: count}}``; the last counts
    secrets under any other id (they cannot be unwrapped with this keyring). One
    aggregate scan per kind, however many ids.
    """
    usage: dict[str, dict[str, int]] = {}
    for kind in kinds:
        sums = [func.sum(case((kind.under(kid), 1), else_=0)) for kid in kek_ids]
        row = db.execute(
            select(func.count(), *sums).select_from(kind.from_clause()).where(*kind.conditions())
        ).one()
        total, counts = int(row[0] or 0), [int(n or 0) for n in row[1:]]
        usage[kind.name] = dict(zip(kek_ids, counts, strict=True))
        usage[kind.name][NOT_IN_KEYRING] = total - sum(counts)
    return usage


def pending(
    db: Session, active_id: str, kinds: Sequence[WrappedSecrets] = WRAPPED
) -> dict[str, int]:
    """How many secrets of each kind are not yet wrapped by ``active_id``."""
    counts = {}
    for kind in kinds:
        counts[kind.name] = int(
            db.scalar(
                select(func.count())
                .select_from(kind.from_clause())
                .where(*kind.conditions(), ~kind.under(active_id))
            )
            or 0
        )
    return counts


# -- re-wrapping -------------------------------------------------------------------------------


@dataclass
class BatchResult:
    """What one batch of :func:`rewrap_batches` did (ids and counts only)."""

    kind: str
    #: Rows read (all were not under the active KEK when read).
    seen: int = 0
    #: Rows now wrapped by the active KEK.
    rewrapped: int = 0
    #: Rows changed or deleted by someone else between read and update (left alone).
    changed_meanwhile: int = 0
    #: Row ids whose secret did not unwrap (unknown KEK, moved or damaged); left alone.
    unreadable: list[str] = field(default_factory=list)
    #: The last id of the batch (where the next one starts).
    last_id: str = ""


def _select_batch(
    db: Session, kind: WrappedSecrets, active_id: str, after: Any, size: int
) -> list[Mapping[Any, Any]]:
    table = kind.table
    key = table.c[kind.key]
    columns = [key, table.c[kind.wrapped], *(table.c[c] for c in kind.extra)]
    query = (
        select(*columns)
        .select_from(kind.from_clause())
        .where(*kind.conditions(), ~kind.under(active_id))
        .order_by(key)
        .limit(size)
    )
    if after is not None:
        query = query.where(key > after)
    return [row._mapping for row in db.execute(query)]


def _rewrapped(
    keyring: Keyring, kind: WrappedSecrets, rows: Sequence[Mapping[Any, Any]]
) -> tuple[list[dict[str, Any]], list[str]]:
    """New wrapped values for ``rows`` as UPDATE parameters, and ids that did not unwrap."""
    updates: list[dict[str, Any]] = []
    unreadable: list[str] = []
    for row in rows:
        old = row[kind.wrapped]
        aad = kind.aad(row)
        try:
            secret = keyring.unwrap(old, aad)
        except (InvalidTag, KeyError_, ValueError):
            unreadable.append(str(row[kind.key]))
            continue
        updates.append({"b_key": row[kind.key], "b_old": old, "b_new": keyring.wrap(secret, aad)})
    return updates, unreadable


def _apply(db: Session, kind: WrappedSecrets, updates: list[dict[str, Any]]) -> int:
    """Run the batch's UPDATEs as one executemany; return how many rows changed."""
    if not updates:
        return 0
    table = kind.table
    stmt = (
        update(table)
        .where(
            table.c[kind.key] == bindparam("b_key"),
            table.c[kind.wrapped] == bindparam("b_old"),
        )
        .values({kind.wrapped: bindparam("b_new")})
    )
    result = cast(CursorResult[Any], db.execute(stmt, updates))
    if db.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount >= 0:
        return int(result.rowcount)
    return len(updates)


def rewrap_batches(
    db: Session,
    keyring: Keyring,
    batch_size: int,
    kinds: Sequence[WrappedSecrets] = WRAPPED,
) -> Iterator[BatchResult]:
    """Re-wrap, batch by batch, every secret not under the keyring's active KEK.

    Yields after each batch's UPDATE, uncommitted: the caller commits (or not) before
    asking for the next. The walk is by primary key, so a run visits each row at most
    once, and a later run skips what an earlier one finished.
    """
    if batch_size < 1:
        raise ValueError("batch size must be at least 1")
    active_id = keyring.active_id
    for kind in kinds:
        after: Any = None
        while True:
            rows = _select_batch(db, kind, active_id, after, batch_size)
            if not rows:
                break
            updates, unreadable = _rewrapped(keyring, kind, rows)
            changed = _apply(db, kind, updates)
            after = rows[-1][kind.key]
            yield BatchResult(
                kind=kind.name,
                seen=len(rows),
                rewrapped=changed,
                changed_meanwhile=len(updates) - changed,
                unreadable=unreadable,
                last_id=str(after),
            )
