"""Audit API: entries, checkpoints, proofs, exports, and the public key anyone can fetch.

Who reads what:

- the DPO (``audit:read``) reads and exports every entry, with filters;
- a customer (a portal session) reads only entries about themselves, and gets proofs for
  those; another subject's entry answers 404, as if it did not exist;
- a service granted ``audit:proof`` gets checkpoints and proofs, never entry contents;
- anyone fetches the public key at ``/.well-known/governance-audit-key.json`` and checks
  checkpoints and proofs offline.

Every hash, signature and byte string is standard base64. The query services are in
:mod:`audit.query`; proofs come from :mod:`audit.log`.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterator, Mapping
from typing import Any

import orjson
from cryptography.hazmat.primitives import serialization
from flask import Flask, Response, current_app, stream_with_context
from flask.views import MethodView
from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    post_load,
    pre_load,
    validate,
    validates_schema,
)

from audit import log_origin, public_keys, query, record
from audit.checkpoint import b64, raw_public_key
from audit.log import (
    ACTOR_TYPES,
    entry_json,
    entry_row,
    format_time,
    inclusion_proof,
    latest_checkpoint,
    log_size,
    root_at,
    row_bytes,
)
from audit.log import consistency_proof as build_consistency_proof
from audit.models import DECISIONS
from audit.pii import PiiInAuditEntry
from governance.api import Blueprint, get_api
from governance.auth.actors import Actor, current_actor, require_step_up
from governance.auth.permissions import Permission, public, requires
from governance.db import get_session, utcnow
from governance.errors import ApiError

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1/audit",
    description="The audit trail: entries, signed checkpoints, proofs and exports",
)
key_blp = Blueprint(
    "audit_public",
    __name__,
    description="The audit trail's public key, for verifying checkpoints offline",
)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
JSONL = "application/x-ndjson"
CSV = "text/csv"
CSV_COLUMNS = (
    "seq",
    "time",
    "actor_type",
    "actor_id",
    "action",
    "subject",
    "purpose",
    "resource",
    "decision",
    "reasons",
    "policy_hash",
    "request_id",
    "details",
    "leaf_hash",
)
#: A spreadsheet reads a cell starting with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_KEY_CACHE_SECONDS = 3600

# The shapes audit.log accepts; a filter that cannot match an entry is a mistake to report.
_SUBJECT_ID = r"^sub_[A-Za-z0-9_-]{22}$"
_OPAQUE_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
_ACTION = r"^[a-z][a-z0-9_.:-]{0,63}$"
_PURPOSE = r"^[a-z][a-z0-9_]{0,63}$"

_NOT_YOURS = "A customer reads only the audit entries about themselves."


# -- request schemas -------------------------------------------------------------------------


def _time_field(description: str) -> fields.AwareDateTime:
    return fields.AwareDateTime(format="iso", metadata={"description": description})


def _cursor_field(description: str) -> fields.Integer:
    return fields.Integer(
        strict=False,
        validate=validate.Range(min=0, max=query.MAX_SEQ),
        metadata={"description": description},
    )


def _limit_field() -> fields.Integer:
    return fields.Integer(
        load_default=DEFAULT_LIMIT,
        validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": f"items per page (default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"},
    )


class _QuerySchema(Schema):
    """Query parameters: unknown ones are refused, and so is one given twice.

    Every parameter here takes one value; ``?decision=deny&decision=error`` would
    otherwise be read as ``decision=deny`` and silently return part of what was meant.
    """

    class Meta:
        """Refuse unknown parameters."""

        unknown = RAISE

    @pre_load
    def _once_each(self, data: Any, **_kwargs: Any) -> Any:
        raw = getattr(data, "data", data)  # webargs hands over a proxy of the MultiDict
        getlist = getattr(raw, "getlist", None)
        if getlist is not None:
            repeated = {key: ["Give this parameter once."] for key in raw if len(getlist(key)) > 1}
            if repeated:
                raise ValidationError(repeated)
        return data


class EntryFilterSchema(_QuerySchema):
    """Filters on entries; every one given must match."""

    since = _time_field("ISO 8601 date-time with offset; entries logged at or after it")
    until = _time_field("ISO 8601 date-time with offset; entries logged before it")
    actor_type = fields.String(validate=validate.OneOf(ACTOR_TYPES))
    actor_id = fields.String(validate=validate.Regexp(_OPAQUE_ID))
    subject = fields.String(
        validate=validate.Regexp(_SUBJECT_ID), metadata={"description": "opaque subject id"}
    )
    purpose = fields.String(validate=validate.Regexp(_PURPOSE))
    action = fields.String(validate=validate.Regexp(_ACTION))
    decision = fields.String(validate=validate.OneOf(DECISIONS))

    @post_load
    def _log_times(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """Turn the times into the log's fixed-width UTC form, which compares as text."""
        for name in ("since", "until"):
            if name in data:
                try:
                    data[name] = format_time(data[name])
                except OverflowError:
                    raise ValidationError("Out of range.", name) from None
        if "since" in data and "until" in data and data["until"] < data["since"]:
            raise ValidationError("Must not be before 'since'.", "until")
        return data


class EntryPageQuerySchema(EntryFilterSchema):
    """Filters and a keyset page."""

    before = _cursor_field("the 'next' of the previous page: entries with a lower seq")
    limit = _limit_field()


class ExportQuerySchema(EntryFilterSchema):
    """Filters and a file format."""

    format = fields.String(
        load_default="jsonl",
        validate=validate.OneOf(["jsonl", "csv"]),
        metadata={"description": "jsonl (one entry per line, as the API shows it) or csv"},
    )


class CheckpointPageQuerySchema(_QuerySchema):
    """A keyset page of checkpoints."""

    before = _cursor_field("the 'next' of the previous page: checkpoints with a lower id")
    limit = _limit_field()


class ProofQuerySchema(_QuerySchema):
    """Which tree the inclusion proof is for."""

    tree_size = fields.Integer(
        strict=False,
        validate=validate.Range(min=1, max=query.MAX_SEQ),
        metadata={
            "description": "default: the newest checkpoint's size if it covers the entry, "
            "else the current log size"
        },
    )


class ConsistencyQuerySchema(_QuerySchema):
    """Two tree sizes, old <= new."""

    old = fields.Integer(
        strict=False, required=True, validate=validate.Range(min=0, max=query.MAX_SEQ)
    )
    new = fields.Integer(
        strict=False, required=True, validate=validate.Range(min=0, max=query.MAX_SEQ)
    )

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """The old tree cannot be larger than the new one."""
        if data["old"] > data["new"]:
            raise ValidationError("Must not be larger than 'new'.", "old")


# -- response schemas ------------------------------------------------------------------------


class ActorSchema(Schema):
    """Who acted."""

    type = fields.String(metadata={"description": ", ".join(ACTOR_TYPES)})
    id = fields.String(metadata={"description": "opaque id"})


class EntrySchema(Schema):
    """An audit entry."""

    seq = fields.Integer(metadata={"description": "position in the log: 0, 1, 2, ..."})
    time = fields.String(metadata={"description": "UTC, 2026-11-25T10:00:00.123456Z"})
    actor = fields.Nested(ActorSchema)
    action = fields.String()
    subject = fields.String(allow_none=True, metadata={"description": "opaque subject id"})
    purpose = fields.String(allow_none=True)
    resource = fields.String(allow_none=True)
    decision = fields.String(metadata={"description": ", ".join(DECISIONS)})
    reasons = fields.List(fields.String())
    policy_hash = fields.String(allow_none=True, metadata={"description": "SHA-256, hex"})
    request_id = fields.String(allow_none=True)
    details = fields.Dict(metadata={"description": "ids, names and counts; no personal values"})
    leaf_hash = fields.String(metadata={"description": "SHA-256(0x00 || canonical), base64"})


class EntryDetailSchema(EntrySchema):
    """An audit entry with the bytes its leaf hash covers."""

    canonical = fields.String(
        metadata={"description": "the canonical JSON bytes of the entry, base64"}
    )


class EntryPageSchema(Schema):
    """A page of entries, newest first."""

    items = fields.List(fields.Nested(EntrySchema))
    next = fields.String(
        allow_none=True,
        metadata={
            "description": "pass as 'before' for the next page; null at the end. A page "
            "may be short, even empty, before the end: follow 'next' until it is null"
        },
    )


class CheckpointSchema(Schema):
    """A signed checkpoint (tree head)."""

    id = fields.Integer()
    tree_size = fields.Integer()
    root_hash = fields.String(metadata={"description": "base64"})
    chain_hash = fields.String(metadata={"description": "base64"})
    signed_at = fields.String()
    key_id = fields.String(metadata={"description": "names a key of the well-known key set"})
    note = fields.String(metadata={"description": "the signed text (C2SP tlog-checkpoint)"})
    signature = fields.String(metadata={"description": "Ed25519 over the note, base64"})


class CheckpointPageSchema(Schema):
    """A page of checkpoints, newest first."""

    items = fields.List(fields.Nested(CheckpointSchema))
    next = fields.String(
        allow_none=True, metadata={"description": "pass as 'before' for the next page"}
    )


class InclusionProofSchema(Schema):
    """An RFC 9162 inclusion proof."""

    seq = fields.Integer()
    tree_size = fields.Integer()
    leaf_hash = fields.String(metadata={"description": "base64"})
    proof = fields.List(
        fields.String(), metadata={"description": "audit path, leaf's sibling first, base64"}
    )
    root_hash = fields.String(metadata={"description": "root of the tree of tree_size, base64"})
    checkpoint = fields.Nested(
        CheckpointSchema,
        allow_none=True,
        metadata={"description": "the signed head of tree_size; null if none signed it yet"},
    )


class ConsistencyProofSchema(Schema):
    """An RFC 9162 consistency proof."""

    old = fields.Integer()
    new = fields.Integer()
    old_root = fields.String(metadata={"description": "base64"})
    new_root = fields.String(metadata={"description": "base64"})
    proof = fields.List(fields.String(), metadata={"description": "base64, in RFC order"})


class PublicKeySchema(Schema):
    """One checkpoint-signing public key."""

    key_id = fields.String(metadata={"description": "16 hex digits of SHA-256 of the raw key"})
    public_key = fields.String(metadata={"description": "the raw 32-byte Ed25519 key, base64"})
    pem = fields.String(metadata={"description": "the key as SubjectPublicKeyInfo PEM"})


class AuditKeySetSchema(Schema):
    """What a verifier needs to check checkpoints and proofs offline."""

    origin = fields.String(metadata={"description": "first line of every checkpoint note"})
    algorithm = fields.String()
    keys = fields.List(fields.Nested(PublicKeySchema))
    checkpoint_format = fields.String()
    hash = fields.String()


# -- who may read what -----------------------------------------------------------------------


def _reader_scope(actor: Actor) -> str | None:
    """None if ``actor`` reads every entry; a subject id if only that subject's entries."""
    if actor.can(Permission.AUDIT_READ):
        return None
    if actor.type == "subject":
        return actor.id
    raise ApiError("forbidden", "Reading audit entries needs the permission 'audit:read'.")


def _proof_scope(actor: Actor) -> str | None:
    """None if ``actor`` gets proofs for every entry; a subject id if only for theirs."""
    if actor.type == "subject" and not actor.can(Permission.AUDIT_READ):
        return actor.id
    return None


def _visible_row(seq: int, scope: str | None) -> Mapping[str, Any]:
    """The row of entry ``seq``; 404 if there is none or it is about someone else."""
    row = entry_row(get_session(), seq) if seq <= query.MAX_SEQ else None
    if row is None or (scope is not None and row["subject_id"] != scope):
        raise ApiError("not-found", f"No audit entry {seq}.")
    return row


def _filters(args: Mapping[str, Any], scope: str | None) -> query.EntryFilter:
    """The filters asked for, confined to ``scope``."""
    filters = query.EntryFilter.from_mapping(args)
    if scope is None:
        return filters
    if filters.subject not in (None, scope):
        raise ApiError("forbidden", _NOT_YOURS)
    return query.EntryFilter.from_mapping({**args, "subject": scope})


def _cursor(value: int | None) -> str | None:
    return None if value is None else str(value)


# -- entries ---------------------------------------------------------------------------------


@blp.route("/entries")
class Entries(MethodView):
    """Audit entries."""

    @requires(Permission.AUDIT_PROOF)
    @blp.arguments(EntryPageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, EntryPageSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Entries matching the filters, newest first, keyset-paged.

        Needs ``audit:read``; a customer gets only the entries about themselves (asking
        for another subject is refused).
        """
        filters = _filters(args, _reader_scope(current_actor()))
        page = query.entries_page(
            get_session(), filters, before=args.get("before"), limit=args["limit"]
        )
        return {"items": [entry_json(r) for r in page.rows], "next": _cursor(page.next_before)}


@blp.route("/entries/<int:seq>")
class EntryItem(MethodView):
    """One audit entry."""

    @requires(Permission.AUDIT_PROOF)
    @blp.response(200, EntryDetailSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, seq: int) -> dict[str, Any]:
        """One entry with its canonical bytes, from which its leaf hash is recomputed."""
        row = _visible_row(seq, _reader_scope(current_actor()))
        return {**entry_json(row), "canonical": b64(row_bytes(row))}


@blp.route("/entries/<int:seq>/proof")
class EntryProof(MethodView):
    """An inclusion proof for one entry."""

    @requires(Permission.AUDIT_PROOF)
    @blp.arguments(ProofQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, InclusionProofSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, args: dict[str, Any], seq: int) -> dict[str, Any]:
        """Proof that the entry is in the tree of ``tree_size`` entries.

        By default the tree is the newest signed checkpoint's, when it covers the entry,
        so the root can be checked against a signature; otherwise the current log (and
        ``checkpoint`` is null). A customer gets proofs only for entries about themselves.
        """
        session = get_session()
        row = _visible_row(seq, _proof_scope(current_actor()))
        tree_size: int | None = args.get("tree_size")
        signed = None
        if tree_size is None:
            latest = latest_checkpoint(session)
            if latest is not None and latest.tree_size > seq:
                tree_size, signed = latest.tree_size, latest
            else:
                tree_size = log_size(session)
        else:
            size = log_size(session)
            if not seq < tree_size <= size:
                raise ApiError(
                    "validation-error",
                    f"tree_size must be above the entry's seq and at most the log size ({size}).",
                    errors={"tree_size": [f"Must be between {seq + 1} and {size}."]},
                )
            signed = query.checkpoint_of_size(session, tree_size)
        return {
            "seq": seq,
            "tree_size": tree_size,
            "leaf_hash": b64(bytes(row["leaf_hash"])),
            "proof": [b64(h) for h in inclusion_proof(session, seq, tree_size)],
            "root_hash": b64(root_at(session, tree_size)),
            "checkpoint": None if signed is None else signed.to_json(),
        }


@blp.route("/consistency")
class Consistency(MethodView):
    """A consistency proof between two tree sizes."""

    @requires(Permission.AUDIT_PROOF)
    @blp.arguments(ConsistencyQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, ConsistencyProofSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Proof that the tree of ``old`` entries is a prefix of the tree of ``new``."""
        session = get_session()
        old, new = args["old"], args["new"]
        size = log_size(session)
        if new > size:
            raise ApiError(
                "validation-error",
                f"new must be at most the log size ({size}).",
                errors={"new": [f"Must be at most {size}."]},
            )
        return {
            "old": old,
            "new": new,
            "old_root": b64(root_at(session, old)),
            "new_root": b64(root_at(session, new)),
            "proof": [b64(h) for h in build_consistency_proof(session, old, new)],
        }


# -- checkpoints -----------------------------------------------------------------------------


@blp.route("/checkpoints/latest")
class LatestCheckpoint(MethodView):
    """The newest signed checkpoint."""

    @requires(Permission.AUDIT_PROOF)
    @blp.response(200, CheckpointSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self) -> dict[str, Any]:
        """The newest checkpoint: its note, signature and key id."""
        latest = latest_checkpoint(get_session())
        if latest is None:
            raise ApiError("not-found", "No checkpoint has been signed yet.")
        return latest.to_json()


@blp.route("/checkpoints")
class Checkpoints(MethodView):
    """Signed checkpoints."""

    @requires(Permission.AUDIT_PROOF)
    @blp.arguments(CheckpointPageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, CheckpointPageSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Checkpoints, newest first, keyset-paged by id.

        Open to every holder of ``audit:proof`` (customers included): whoever keeps the
        heads they saw can later ask for consistency proofs and act as a witness.
        """
        found, after = query.checkpoints_page(
            get_session(), before_id=args.get("before"), limit=args["limit"]
        )
        return {"items": [cp.to_json() for cp in found], "next": _cursor(after)}


# -- export ----------------------------------------------------------------------------------


def _csv_cell(value: Any) -> Any:
    """A CSV cell; text a spreadsheet would run as a formula gets a leading quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_row(row: Mapping[str, Any]) -> list[Any]:
    return [
        _csv_cell(v)
        for v in (
            row["seq"],
            row["logged_at"],
            row["actor_type"],
            row["actor_id"],
            row["action"],
            row["subject_id"],
            row["purpose"],
            row["resource"],
            row["decision"],
            row["reasons"],
            row["policy_hash"],
            row["request_id"],
            row["details"],
            b64(bytes(row["leaf_hash"])),
        )
    ]


def _csv_chunk(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


def _stream(filters: query.EntryFilter, within: query.SeqRange, fmt: str) -> Iterator[bytes]:
    """The export body, one batch of rows at a time."""
    if fmt == "csv":
        yield _csv_chunk([list(CSV_COLUMNS)])
    # Inside the stream the request's first session is already closed (teardown ran when
    # the response was returned); get_session() opens the stream's own, closed when the
    # stream ends.
    session = get_session()
    for batch in query.iter_entries(session, filters, within=within, batch=query.EXPORT_BATCH):
        if fmt == "csv":
            yield _csv_chunk([_csv_row(r) for r in batch])
        else:
            yield b"".join(orjson.dumps(entry_json(r)) + b"\n" for r in batch)
        # End the read transaction: no connection or snapshot is held while the client
        # downloads the batch.
        session.rollback()


#: The filters an export names in its own audit entry.
EXPORT_FILTERS = tuple(f.name for f in dataclasses.fields(query.EntryFilter))


def record_export(session: Any, fmt: str, given: Mapping[str, Any]) -> None:
    """Record an export of the entries ``given`` filters select (``audit.export``).

    The entry names the format and the filters (ids, codes and times in the log's form);
    a filter the audit PII hook refuses raises :class:`audit.pii.PiiInAuditEntry` and
    nothing is recorded. The caller commits before the export's first byte.
    """
    chosen = {name: given[name] for name in EXPORT_FILTERS if given.get(name) is not None}
    record(
        session,
        action="audit.export",
        resource="audit_log",
        details={"format": fmt, "filters": chosen},
    )


def export_response(filters: query.EntryFilter, fmt: str) -> Response:
    """A streamed download of every entry matching ``filters``, newest first.

    ``fmt`` is ``csv`` or ``jsonl``. The time range is resolved here, before the response
    starts, so that a failure is still an error answer; the rows are read while the
    client downloads them (:func:`_stream`). The API's export and the DPO console's both
    answer with this; a caller that records the export commits before returning it.
    """
    within = query.seq_range(get_session(), filters.since, filters.until)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return current_app.response_class(
        stream_with_context(_stream(filters, within, fmt)),
        mimetype=CSV if fmt == "csv" else JSONL,
        headers={
            "Content-Disposition": f'attachment; filename="audit-entries-{stamp}.{fmt}"',
            "X-Accel-Buffering": "no",  # let a proxy pass batches on as they come
        },
    )


@blp.route("/export")
class Export(MethodView):
    """Entries as a file."""

    @requires(Permission.AUDIT_READ)
    @blp.arguments(ExportQuerySchema, location="query", unknown=RAISE)
    @blp.response(
        200,
        {"type": "string"},
        content_type=JSONL,
        description=(
            "With format=jsonl, one entry per line as the entries endpoint shows it "
            f"({JSONL}); with format=csv, {CSV} with the columns {', '.join(CSV_COLUMNS)} "
            "(reasons and details as JSON text; a cell a spreadsheet would run as a formula "
            "starts with a single quote). Newest first, streamed."
        ),
    )
    @blp.alt_response(200, schema={"type": "string"}, content_type=CSV, success=True)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    def get(self, args: dict[str, Any]) -> Response:
        """Every entry matching the filters, newest first, streamed as JSON Lines or CSV.

        Needs a step-up (a TOTP code entered in the last minutes, ``/console/step-up``).
        The export is itself recorded (``audit.export``) before the first byte is sent.
        """
        require_step_up(current_actor(), "An audit export")
        filters = query.EntryFilter.from_mapping(args)
        session = get_session()
        try:
            record_export(session, args["format"], args)
        except PiiInAuditEntry:
            raise ApiError(
                "validation-error",
                "A filter reads as personal data; filter by ids only.",
            ) from None
        session.commit()
        return export_response(filters, args["format"])


# -- the public key --------------------------------------------------------------------------


@key_blp.route("/.well-known/governance-audit-key.json", endpoint="signing_key")
class SigningKey(MethodView):
    """The keys that sign the audit log's checkpoints."""

    @public
    @key_blp.doc(security=[])
    @key_blp.response(200, AuditKeySetSchema)
    def get(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The log's origin and public keys; no sign-in needed."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        keys = [
            {
                "key_id": key_id,
                "public_key": b64(raw_public_key(key)),
                "pem": key.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ).decode("ascii"),
            }
            for key_id, key in public_keys(app).items()
        ]
        body = {
            "origin": log_origin(app),
            "algorithm": "Ed25519",
            "keys": keys,
            "checkpoint_format": (
                "C2SP tlog-checkpoint note: origin, tree size, root hash (base64), "
                "'chain <base64>', 'time <UTC>', each line ending in a newline; the "
                "Ed25519 signature covers exactly these bytes"
            ),
            "hash": "SHA-256, RFC 9162 (leaf 0x00, node 0x01)",
        }
        headers = {
            "Cache-Control": f"public, max-age={_KEY_CACHE_SECONDS}",
            "Access-Control-Allow-Origin": "*",  # browsers on other sites may verify too
        }
        return body, 200, headers


def init_app(app: Flask) -> None:
    """Register the audit API and the well-known public key."""
    api = get_api(app)
    api.register_blueprint(blp)
    api.register_blueprint(key_blp)
