"""Where a participant's training rows come from: the row-source seam.

A ClientApp never queries a database. It reads one file named by its SuperNode's node
config, optionally filtered by a signed cohort manifest (:mod:`federated.manifest`):

``data-path``
    JSON Lines in the shape of the platform's cohort export, one customer a line:
    ``{"subject": "<customer id>", "values": {"<field>": <number>, ...}}``; or CSV with a
    ``subject`` column and one column per field. Every field but the label is a feature;
    values must be numbers (a field that is not says so by name, never by value).
``cohort-manifest``, ``manifest-public-key``, ``blinding-key``
    Optional, together: a manifest file, the platform's Ed25519 public key (PEM) and the
    agreement's blinding key (hex, mode 0600). Only rows whose blinded id is in the
    verified manifest are kept; a manifest that does not verify stops the participant.

:func:`load_cohort` applies both and says what it did (:class:`Cohort`).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from federated.manifest import (
    CohortManifest,
    ManifestError,
    blind_id,
    load_manifest,
    read_blinding_key,
)

__all__ = [
    "Cohort",
    "FileRowSource",
    "RowSource",
    "RowSourceError",
    "Rows",
    "is_test_row",
    "load_cohort",
    "read_rows",
]


class RowSourceError(ValueError):
    """A row file is missing or malformed, or the node config names no usable source."""


@dataclass(frozen=True)
class Rows:
    """A participant's rows: customer ids, feature names, the matrix and the labels."""

    ids: tuple[str, ...]
    features: tuple[str, ...]
    x: NDArray[np.float64]
    y: NDArray[np.float64] | None

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: NDArray[np.intp]) -> Rows:
        """The rows at ``index``, in that order."""
        return Rows(
            ids=tuple(self.ids[i] for i in index),
            features=self.features,
            x=self.x[index],
            y=None if self.y is None else self.y[index],
        )


class RowSource(Protocol):
    """Anything that yields a participant's rows (a file today; the seam for others)."""

    def read(self) -> Rows:
        """All rows the source holds."""
        ...


def _records(path: Path) -> Iterator[tuple[str, Mapping[str, object]]]:
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            for n, raw in enumerate(csv.DictReader(handle), start=1):
                subject = raw.pop("subject", None)
                if not subject:
                    raise RowSourceError(f"{path.name} row {n} has no subject")
                yield subject, raw
        return
    with path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise RowSourceError(f"{path.name} line {n} is not JSON") from None
            if not isinstance(record, dict) or not isinstance(record.get("subject"), str):
                raise RowSourceError(f"{path.name} line {n} has no subject")
            values = record.get("values")
            if not isinstance(values, dict):
                raise RowSourceError(f"{path.name} line {n} has no values object")
            yield record["subject"], values


def _number(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or value is None or value == "":
        raise RowSourceError(f"{where}: field {name} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise RowSourceError(f"{where}: field {name} is not a number") from None
    if not math.isfinite(number):
        raise RowSourceError(f"{where}: field {name} is not finite")
    return number


def read_rows(path: Path, label_field: str) -> Rows:
    """Every row of a JSON Lines or CSV file; features are the fields but the label."""
    if not path.is_file():
        raise RowSourceError(f"row file {path} does not exist")
    ids: list[str] = []
    matrix: list[list[float]] = []
    labels: list[float] = []
    features: tuple[str, ...] | None = None
    has_label = False
    for n, (subject, values) in enumerate(_records(path), start=1):
        where = f"{path.name} row {n}"
        names = tuple(sorted(k for k in values if k != label_field))
        if features is None:
            features, has_label = names, label_field in values
        elif names != features or (label_field in values) != has_label:
            raise RowSourceError(f"{where} has other fields than the first row")
        ids.append(subject)
        matrix.append([_number(values[name], name, where) for name in names])
        if has_label:
            label = _number(values[label_field], label_field, where)
            if label not in (0.0, 1.0):
                raise RowSourceError(f"{where}: label {label_field} is not 0 or 1")
            labels.append(label)
    if features is None:
        raise RowSourceError(f"row file {path} holds no rows")
    if len(set(ids)) != len(ids):
        raise RowSourceError(f"row file {path} repeats a subject")
    return Rows(
        ids=tuple(ids),
        features=features,
        x=np.asarray(matrix, dtype=np.float64).reshape(len(ids), len(features)),
        y=np.asarray(labels, dtype=np.float64) if has_label else None,
    )


@dataclass(frozen=True)
class FileRowSource:
    """Rows from a JSON Lines or CSV file (:func:`read_rows`)."""

    path: Path
    label_field: str

    def read(self) -> Rows:
        """All rows of the file."""
        return read_rows(self.path, self.label_field)


@dataclass(frozen=True)
class Cohort:
    """The rows a participant may train on, and how they were chosen."""

    party: str
    rows: Rows
    rows_read: int
    manifest: CohortManifest | None = None
    blinded_ids: tuple[str, ...] = field(default=())

    @property
    def manifest_sha256(self) -> str | None:
        """The hash of the manifest that filtered the rows (None without one)."""
        return None if self.manifest is None else self.manifest.sha256


def _path(node_config: Mapping[str, object], key: str) -> Path | None:
    value = node_config.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RowSourceError(f"node config {key} must be a path string")
    return Path(value).expanduser()


def load_cohort(
    node_config: Mapping[str, object],
    label_field: str,
    *,
    source: RowSource | None = None,
    need_blinded_ids: bool = False,
) -> Cohort:
    """The participant's consent-gated rows, from its node config.

    Reads ``data-path`` (or ``source``), then, when ``cohort-manifest`` is set, verifies it
    against ``manifest-public-key`` (for this ``party``) and keeps the rows whose
    ``blinding-key`` HMAC is listed. Raises :class:`ManifestError` when the manifest does
    not verify, :class:`RowSourceError` when the rows cannot be read.
    """
    party = node_config.get("party")
    if not isinstance(party, str) or not party:
        raise RowSourceError("node config has no party")
    if source is None:
        data_path = _path(node_config, "data-path")
        if data_path is None:
            raise RowSourceError("node config has no data-path")
        source = FileRowSource(data_path, label_field)
    manifest_path = _path(node_config, "cohort-manifest")
    key_path = _path(node_config, "blinding-key")
    manifest = None
    if manifest_path is not None:
        public_key_path = _path(node_config, "manifest-public-key")
        if public_key_path is None or key_path is None:
            raise ManifestError("a cohort-manifest needs manifest-public-key and blinding-key")
        manifest = load_manifest(manifest_path, public_key_path, party=party)
    rows = source.read()
    blinded: tuple[str, ...] = ()
    if manifest is not None or need_blinded_ids:
        if key_path is None:
            raise ManifestError("node config has no blinding-key")
        key = read_blinding_key(key_path)
        blinded = tuple(blind_id(key, cid) for cid in rows.ids)
    kept = rows
    if manifest is not None:
        index = np.asarray([i for i, b in enumerate(blinded) if b in manifest], dtype=np.intp)
        kept = rows.take(index)
        blinded = tuple(blinded[i] for i in index)
    return Cohort(
        party=party, rows=kept, rows_read=len(rows), manifest=manifest, blinded_ids=blinded
    )


def is_test_row(customer_id: str, test_fraction: float) -> bool:
    """Whether a customer is in the held-out evaluation split (stable across parties).

    Decided by the SHA-256 of the id, so a centralised baseline on the same rows splits
    them the same way.
    """
    digest = hashlib.sha256(customer_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction
