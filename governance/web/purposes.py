"""What the portal shows about each purpose, and the customer's decisions on it.

Purposes are shown in three groups, one screen each, in the order of :data:`GROUPS`:

- ``ours``: uses within the brand that rest on consent (marketing, recommendations,
  analytics);
- ``sharing``: purposes that need separate consent (PIPL arts. 23, 29, 39): provision to a
  third party or partner, transfer abroad, sensitive information; each is decided on its
  own, never in a bundle;
- ``service``: purposes on another legal basis (a contract): explained, nothing to decide.

For every purpose the customer sees which fields each tier it may be granted at covers
(tiers at or above the purpose's own; a higher tier covers the lower ones), who receives
the data and where, and where they stand now. A decision is one ledger event for one
purpose, with the hash of exactly what was shown (:func:`evidence`).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import ledger
from consent.catalog.models import CatalogField, PrivacyNotice, Purpose
from consent.models import ConsentState
from consent.tiers import Tier

__all__ = [
    "GROUPS",
    "PurposeView",
    "TierOption",
    "evidence",
    "field_order",
    "grant_notice",
    "group_of",
    "material_notice_for",
    "purpose_views",
    "tier_options",
]

GROUPS = ("ours", "sharing", "service")
#: The order fields are listed in: who you are and how to reach you first, money last.
CATEGORY_ORDER = (
    "profile",
    "demographic",
    "contact",
    "identity",
    "membership",
    "guardian",
    "behaviour",
    "service",
    "location",
    "transaction",
    "financial",
)


def field_order(catalog_field: CatalogField) -> tuple[int, str]:
    """Sort key listing fields by :data:`CATEGORY_ORDER`, then by name."""
    category = catalog_field.category
    rank = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
    return rank, catalog_field.name


def group_of(purpose: Purpose) -> str:
    """The screen a purpose is shown on."""
    if purpose.legal_basis != "consent":
        return "service"
    return "sharing" if purpose.separate_consent else "ours"


@dataclass(frozen=True)
class TierOption:
    """A tier a purpose may be granted at, and the fields it covers for that purpose."""

    tier: str
    fields: tuple[CatalogField, ...]  # every field it covers
    added: tuple[CatalogField, ...]  # the fields it adds to the tier below


@functools.cache
def _basis_categories() -> dict[str, frozenset[str]]:
    """Field categories each non-consent legal basis is limited to (the policy's data)."""
    from policies.engine import PolicySource

    bases = PolicySource.load().documents.get("governance/access", {}).get("legal_bases", {})
    return {
        name: frozenset(rules["categories"])
        for name, rules in bases.items()
        if isinstance(rules, dict) and "categories" in rules
    }


def _usable(purpose: Purpose, catalog_field: CatalogField) -> bool:
    """Whether the policy can ever let ``purpose`` use the field (the tier aside).

    Sensitive personal information is only for a separate-consent purpose; a purpose on
    another legal basis (a contract) only uses the categories that basis covers.
    """
    if catalog_field.pipl_sensitive and not purpose.separate_consent:
        return False
    limited = _basis_categories().get(purpose.legal_basis)
    return limited is None or catalog_field.category in limited


def tier_options(purpose: Purpose, fields: list[CatalogField]) -> list[TierOption]:
    """The tiers ``purpose`` can be granted at, lowest first, with what each covers."""
    needed = Tier(purpose.required_tier)
    out: list[TierOption] = []
    for tier in Tier:
        covered = tuple(f for f in fields if tier.covers(Tier(f.tier)) and _usable(purpose, f))
        if not tier.covers(needed):
            continue
        below = {f.name for f in out[-1].fields} if out else set()
        added = tuple(f for f in covered if f.name not in below) if out else covered
        out.append(TierOption(tier.value, covered, added))
    return out


@dataclass
class PurposeView:
    """One purpose as a customer sees it on its group's screen."""

    purpose: Purpose
    group: str
    options: list[TierOption]
    #: granted, reconsent, withdrawn, refused, expired, never, guardian, legal_basis
    status: str
    tier: str | None = None  # the tier granted (also when it no longer counts)
    changed_at: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    #: The notice that changed this purpose materially after the customer's grant.
    changed_by: PrivacyNotice | None = None
    by_guardian: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def granted(self) -> bool:
        """True while the grant counts."""
        return self.status == "granted"

    @property
    def decidable(self) -> bool:
        """True for a purpose that rests on consent."""
        return self.purpose.legal_basis == "consent"

    @property
    def chosen_tier(self) -> str | None:
        """The tier preselected in the form: the one granted, else the lowest offered."""
        offered = [o.tier for o in self.options]
        if self.tier in offered:
            return self.tier
        return offered[0] if offered else None

    @property
    def option(self) -> TierOption | None:
        """The option of the granted tier (or the lowest one)."""
        for option in self.options:
            if option.tier == self.tier:
                return option
        return self.options[0] if self.options else None


def grant_notice(session: Session, today: dt.date) -> PrivacyNotice | None:
    """The privacy notice a grant made today is recorded under: the newest in effect."""
    return session.scalar(
        select(PrivacyNotice)
        .where(PrivacyNotice.effective_date <= today)
        .order_by(PrivacyNotice.effective_date.desc(), PrivacyNotice.version.desc())
        .limit(1)
    )


def material_notice_for(
    session: Session, purpose: str, after: dt.date | None, today: dt.date
) -> PrivacyNotice | None:
    """The newest notice in effect that changed ``purpose`` materially after ``after``."""
    if after is None:
        return None
    notices = session.scalars(
        select(PrivacyNotice)
        .where(
            PrivacyNotice.material_change.is_(True),
            PrivacyNotice.effective_date > after,
            PrivacyNotice.effective_date <= today,
        )
        .order_by(PrivacyNotice.effective_date.desc())
    )
    return next((n for n in notices if purpose in (n.purposes or [])), None)


_STATUS_OF_REASON = {
    "valid": "granted",
    "reconsent_required": "reconsent",
    "withdrawn": "withdrawn",
    "refused": "refused",
    "expired": "expired",
    "never_granted": "never",
    "guardian_required": "guardian",
    "tier_insufficient": "granted",
}


def _status(state: ConsentState | None, answer: ledger.Answer | None) -> str:
    if state is None or answer is None:
        return "never"
    if state.status == "reconsent_required":
        return "reconsent"
    return _STATUS_OF_REASON.get(answer.reason, state.status)


def purpose_views(
    session: Session, subject_id: str, *, now: dt.datetime | None = None
) -> list[PurposeView]:
    """Every purpose of the catalog with the subject's standing, in catalog order."""
    now = now or dt.datetime.now(dt.UTC)
    fields = sorted(session.scalars(select(CatalogField)), key=field_order)
    states = {s.purpose: s for s in ledger.states(session, subject_id)}
    out: list[PurposeView] = []
    for purpose in session.scalars(select(Purpose).order_by(Purpose.id)):
        options = tier_options(purpose, fields)
        view = PurposeView(purpose, group_of(purpose), options, "legal_basis")
        if view.decidable:
            state = states.get(purpose.id)
            answer = (
                ledger.check(
                    session,
                    subject_id,
                    purpose.id,
                    Tier(state.tier or purpose.required_tier),
                    now=now,
                )
                if state is not None
                else None
            )
            view.status = _status(state, answer)
            if state is not None:
                view.tier = state.tier
                view.changed_at = ledger.as_utc(state.changed_at)
                view.valid_until = ledger.as_utc(state.valid_until) if state.valid_until else None
                view.by_guardian = state.by_guardian
            if view.status == "reconsent" and state is not None:
                view.changed_by = material_notice_for(
                    session, purpose.id, state.notice_date, now.date()
                )
        else:
            view.tier = purpose.required_tier
        out.append(view)
    return out


def evidence(
    purpose: Purpose,
    *,
    kind: str,
    tier: str | None,
    notice_version: str | None,
    language: str,
    option: TierOption | None,
) -> str:
    """SHA-256 (hex) of exactly what the customer saw and chose (the grant's evidence)."""
    suffix = "zh" if language == "zh" else "en"
    shown = {
        "purpose": purpose.id,
        "name": getattr(purpose, f"name_{suffix}"),
        "explanation": getattr(purpose, f"explanation_{suffix}"),
        "recipient": purpose.recipient,
        "recipient_country": purpose.recipient_country,
        "separate_consent": purpose.separate_consent,
        "kind": kind,
        "tier": tier,
        "fields": [f.name for f in option.fields] if option else [],
        "notice_version": notice_version,
        "language": language,
        "channel": "portal",
    }
    canonical = json.dumps(shown, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
