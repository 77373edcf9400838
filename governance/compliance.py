"""The compliance self-check (PIPL art. 54): one pass over what the DPO must keep an eye on.

:func:`run_selfcheck` reads the platform's state and returns a :class:`SelfCheck`: one
:class:`CheckItem` per check, each with a status (``ok``, ``attention``, ``failing``), a
count and detail rows. Rows hold ids, names, codes, counts and dates, never a profile
value or other personal information, so the console can show them and the report can be
saved. The checks:

- ``denials``: processing refused by the policy (no valid consent, no permission...) in
  the window, per reason (:func:`audit.stats.denials_by_reason`);
- ``reconsent``: grants given before a later material notice change for their purpose,
  and grants already marked ``reconsent_required``, per purpose (only the states of the
  purposes a material change names are read);
- ``agreements``: approved partner agreements past ``valid_until`` (failing) or ending
  within :attr:`SelfCheckConfig.expiring_days` (attention);
- ``catalog``: catalog fields without a known classification or a positive retention;
- ``retention``: profile values not updated for longer than their field's retention, per
  field (counts only; one grouped query, which reads all of ``profile_values``: the table
  has no index on ``(field, updated_at)`` yet, so at scale this check is the slow one);
- ``requests``: data-subject requests still open or in progress after their due date;
- ``dead_letters``: consent-change webhooks that failed every attempt, per subscription;
- ``keys``: age of each key file (time since it was last written) against a maximum;
- ``verification``: the last audit verification (none, failed, or older than the window).

The whole platform is checked, whichever brand the operator belongs to: the check reads
the audit log, which is the group's. Functions receive the caller's session and never
commit.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flask import Flask
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from audit.log import format_time, parse_time
from audit.stats import denials_by_reason
from audit.verifications import latest_verification
from consent.catalog.models import CatalogField, Purpose
from consent.catalog.schema import CLASSIFICATIONS
from consent.ledger import as_utc, latest_material_change
from consent.models import ConsentState
from consent.webhooks.models import OutboxMessage, WebhookSubscription
from federated.governance.models import Agreement, Partner
from governance.profiles.models import ProfileValue
from governance.requests.models import ACTIVE_STATUSES, SubjectRequest
from policies.inputs import LOCAL_ZONE

__all__ = [
    "CHECK_KEYS",
    "CheckItem",
    "SelfCheck",
    "SelfCheckConfig",
    "run_selfcheck",
]

Status = Literal["ok", "attention", "failing"]
_RANK: dict[str, int] = {"ok": 0, "attention": 1, "failing": 2}

#: Every check, in the order the page and the report show them.
CHECK_KEYS = (
    "denials",
    "reconsent",
    "agreements",
    "catalog",
    "retention",
    "requests",
    "dead_letters",
    "keys",
    "verification",
)

#: The keys whose age is checked (``KeyPaths`` attribute → name shown). The blind-index
#: key is left out: rotating it means recomputing every index, not a routine rotation.
ROTATED_KEYS = (
    ("kek", "kek"),
    ("audit_signing", "audit_signing"),
    ("receipt_signing", "receipt_signing"),
    ("manifest_signing", "manifest_signing"),
    ("portal_link", "portal_link"),
    ("secret_key", "session"),
)


@dataclass(frozen=True)
class SelfCheckConfig:
    """What the checks compare with (defaults suit most deployments)."""

    #: Denials counted over the last this many days; a verification older is stale.
    window_days: int = 30
    #: An approved agreement ending within this many days needs attention.
    expiring_days: int = 30
    #: A key file older than this needs rotating.
    key_max_age_days: int = 365
    #: Key name → file; a key held elsewhere (environment, KMS) is not listed.
    key_files: Mapping[str, Path] = field(default_factory=dict)
    #: Keys held outside files (named, shown as not measured here).
    keys_elsewhere: tuple[str, ...] = ()
    #: Detail rows kept per check (the count is always the whole).
    detail_limit: int = 50

    @classmethod
    def from_app(cls, app: Flask) -> SelfCheckConfig:
        """The configuration of ``app`` (the ``GOVERNANCE_COMPLIANCE_*`` settings)."""
        config = app.config
        paths = config.get("KEY_PATHS")
        files: dict[str, Path] = {}
        elsewhere: list[str] = []
        for attribute, name in ROTATED_KEYS:
            path = getattr(paths, attribute, None) if paths is not None else None
            if attribute == "kek" and config.get("KEK_PROVIDER", "file") != "file":
                elsewhere.append(name)
            elif path is not None:
                files[name] = Path(path)
        return cls(
            window_days=int(config["COMPLIANCE_WINDOW_DAYS"]),
            expiring_days=int(config["COMPLIANCE_EXPIRING_DAYS"]),
            key_max_age_days=int(config["COMPLIANCE_KEY_MAX_AGE_DAYS"]),
            key_files=files,
            keys_elsewhere=tuple(elsewhere),
        )


@dataclass(frozen=True)
class CheckItem:
    """One check's outcome: status, a count, and rows of ids, codes, counts and dates."""

    key: str
    status: Status
    count: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: Rows left out beyond :attr:`SelfCheckConfig.detail_limit`.
    more: int = 0


@dataclass(frozen=True)
class SelfCheck:
    """Every check's outcome and the time window used."""

    generated_at: dt.datetime
    since: dt.datetime
    until: dt.datetime
    items: list[CheckItem]

    @property
    def status(self) -> Status:
        """The worst status of any item."""
        worst: Status = "ok"
        for item in self.items:
            if _RANK[item.status] > _RANK[worst]:
                worst = item.status
        return worst

    def item(self, key: str) -> CheckItem:
        """The item ``key``."""
        return next(i for i in self.items if i.key == key)

    def summary(self) -> dict[str, Any]:
        """Statuses and counts only (what the audit entry of a report records)."""
        return {
            "status": self.status,
            "since": format_time(self.since),
            "until": format_time(self.until),
            "items": {i.key: {"status": i.status, "count": i.count} for i in self.items},
        }

    def to_json(self) -> dict[str, Any]:
        """The whole self-check as JSON-ready data (dates as ISO 8601)."""

        def plain(value: Any) -> Any:
            return value.isoformat() if isinstance(value, dt.date) else value

        return {
            "generated_at": self.generated_at.isoformat(),
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "status": self.status,
            "items": [
                {
                    "key": i.key,
                    "status": i.status,
                    "count": i.count,
                    "rows": [{k: plain(v) for k, v in row.items()} for row in i.rows],
                    "more": i.more,
                }
                for i in self.items
            ],
        }


def _item(
    key: str, status: Status, count: int, rows: list[dict[str, Any]], limit: int
) -> CheckItem:
    return CheckItem(key, status, count, rows[:limit], max(0, len(rows) - limit))


def _denials(session: Session, since: dt.datetime, until: dt.datetime, limit: int) -> CheckItem:
    counts = denials_by_reason(session, format_time(since), format_time(until))
    rows = [{"reason": reason or "-", "count": n} for reason, n in counts]
    total = sum(n for _, n in counts)
    return _item("denials", "attention" if total else "ok", total, rows, limit)


def _reconsent(session: Session, now: dt.datetime, limit: int) -> CheckItem:
    # Only purposes a material change names can need re-consent (the sweep marks no
    # other), so the count reads those purposes' states through their index.
    changes = latest_material_change(session, session.scalars(select(Purpose.id)), now.date())
    rows: list[dict[str, Any]] = []
    if changes:
        s = ConsentState
        stale = [
            and_(s.purpose == purpose, or_(s.notice_date.is_(None), s.notice_date < changed))
            for purpose, changed in changes.items()
        ]
        query = (
            select(s.purpose, func.count())
            .where(
                s.purpose.in_(list(changes)),
                or_(s.status == "reconsent_required", and_(s.status == "granted", or_(*stale))),
            )
            .group_by(s.purpose)
            .order_by(s.purpose)
        )
        rows = [
            {"purpose": purpose, "count": int(n), "changed": changes.get(purpose)}
            for purpose, n in session.execute(query)
        ]
    total = sum(int(r["count"]) for r in rows)
    return _item("reconsent", "attention" if total else "ok", total, rows, limit)


def _agreements(session: Session, now: dt.datetime, expiring_days: int, limit: int) -> CheckItem:
    today = now.astimezone(LOCAL_ZONE).date()
    horizon = today + dt.timedelta(days=expiring_days)
    query = (
        select(Agreement, Partner.name)
        .join(Partner, Partner.id == Agreement.partner_id)
        .where(Agreement.status == "approved", Agreement.valid_until <= horizon)
        .order_by(Agreement.valid_until, Agreement.id)
    )
    rows = []
    expired = 0
    for agreement, partner_name in session.execute(query):
        state = "expired" if agreement.valid_until < today else "expiring"
        expired += state == "expired"
        rows.append(
            {
                "agreement": agreement.id,
                "partner": partner_name,
                "purpose": agreement.purpose,
                "valid_until": agreement.valid_until,
                "state": state,
            }
        )
    status: Status = "failing" if expired else "attention" if rows else "ok"
    return _item("agreements", status, len(rows), rows, limit)


def _catalog(session: Session, limit: int) -> CheckItem:
    f = CatalogField
    query = (
        select(f.name, f.classification, f.retention_days)
        .where(
            or_(
                f.classification.is_(None),
                f.classification.not_in(CLASSIFICATIONS),
                f.retention_days.is_(None),
                f.retention_days <= 0,
            )
        )
        .order_by(f.name)
    )
    rows = []
    for name, classification, retention in session.execute(query):
        missing = []
        if classification not in CLASSIFICATIONS:
            missing.append("classification")
        if retention is None or retention <= 0:
            missing.append("retention")
        rows.append({"field": name, "missing": missing})
    return _item("catalog", "failing" if rows else "ok", len(rows), rows, limit)


def _retention(session: Session, now: dt.datetime, limit: int) -> CheckItem:
    fields = session.execute(
        select(CatalogField.name, CatalogField.retention_days).where(
            CatalogField.retention_days > 0
        )
    ).all()
    v = ProfileValue
    rows: list[dict[str, Any]] = []
    # One count per field, each an index range on (field, updated_at).
    for name, days in sorted(fields):
        cut = now - dt.timedelta(days=int(days))
        query = select(func.count(), func.min(v.updated_at)).where(
            v.field == name, v.updated_at < cut
        )
        n, oldest = session.execute(query).one()
        if n:
            rows.append(
                {
                    "field": name,
                    "retention_days": int(days),
                    "count": int(n),
                    "oldest": None if oldest is None else as_utc(oldest),
                }
            )
    total = sum(int(r["count"]) for r in rows)
    return _item("retention", "failing" if total else "ok", total, rows, limit)


def _requests(session: Session, now: dt.datetime, limit: int) -> CheckItem:
    r = SubjectRequest
    overdue = and_(r.status.in_(ACTIVE_STATUSES), r.due_at < now)
    total = int(session.scalar(select(func.count()).select_from(r).where(overdue)) or 0)
    found = session.scalars(select(r).where(overdue).order_by(r.due_at, r.id).limit(limit))
    rows = [
        {
            "request": row.id,
            "kind": row.kind,
            "status": row.status,
            "due": as_utc(row.due_at),
            "days_overdue": (now - as_utc(row.due_at)).days,
        }
        for row in found
    ]
    return CheckItem("requests", "failing" if total else "ok", total, rows, total - len(rows))


def _dead_letters(session: Session, limit: int) -> CheckItem:
    m, w = OutboxMessage, WebhookSubscription
    query = (
        select(w.id, w.name, func.count(), func.min(m.created_at))
        .join(w, w.id == m.subscription_id)
        .where(m.status == "dead")
        .group_by(w.id, w.name)
        .order_by(w.id)
    )
    rows: list[dict[str, Any]] = [
        {
            "subscription": sid,
            "name": name,
            "count": int(n),
            "oldest": None if oldest is None else as_utc(oldest),
        }
        for sid, name, n, oldest in session.execute(query)
    ]
    total = sum(int(r["count"]) for r in rows)
    return _item("dead_letters", "attention" if total else "ok", total, rows, limit)


def _keys(config: SelfCheckConfig, now: dt.datetime) -> CheckItem:
    rows: list[dict[str, Any]] = []
    old = 0
    for name, path in config.key_files.items():
        try:
            changed: dt.datetime | None = dt.datetime.fromtimestamp(os.stat(path).st_mtime, dt.UTC)
        except OSError:
            changed = None
        age = None if changed is None else (now - changed).days
        too_old = age is None or age > config.key_max_age_days
        old += too_old
        rows.append(
            {
                "key": name,
                "changed": changed,
                "age_days": age,
                "max_days": config.key_max_age_days,
                "state": "unreadable" if changed is None else "old" if too_old else "ok",
            }
        )
    for name in config.keys_elsewhere:
        rows.append(
            {
                "key": name,
                "changed": None,
                "age_days": None,
                "max_days": config.key_max_age_days,
                "state": "external",
            }
        )
    return CheckItem("keys", "attention" if old else "ok", old, rows)


def _verification(session: Session, since: dt.datetime) -> CheckItem:
    last = latest_verification(session)
    if last is None:
        return CheckItem("verification", "attention", 0, [])
    finished = parse_time(last.finished_at)
    row = {
        "finished": finished,
        "ok": last.ok,
        "tree_size": last.tree_size,
        "failure_check": last.failure_check,
    }
    if not last.ok:
        return CheckItem("verification", "failing", 1, [row])
    return CheckItem("verification", "attention" if finished < since else "ok", 0, [row])


def run_selfcheck(
    session: Session, config: SelfCheckConfig, now: dt.datetime | None = None
) -> SelfCheck:
    """Run every check against the database and ``config`` as of ``now`` (UTC)."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    since = now - dt.timedelta(days=config.window_days)
    limit = config.detail_limit
    items = [
        _denials(session, since, now, limit),
        _reconsent(session, now, limit),
        _agreements(session, now, config.expiring_days, limit),
        _catalog(session, limit),
        _retention(session, now, limit),
        _requests(session, now, limit),
        _dead_letters(session, limit),
        _keys(config, now),
        _verification(session, since),
    ]
    return SelfCheck(generated_at=now, since=since, until=now, items=items)
