"""How a customer's data is processed (PIPL art. 48), in zh-CN and English.

Built from the catalog and the customer's consent state, never from profile values: for
each purpose, its legal basis, whether it applies to them now (a valid grant, or a basis
other than consent) and why not, the recipient and its country (third-party provision,
cross-border transfer), and the categories of fields it may use at most (those whose
tier the grant, or the purpose's own tier, covers; the policy still decides field by
field and role by role). Then the recipients together, and how long each category of
field is kept. A restriction (art. 44) stops every purpose but the customer's own access.
"""

from __future__ import annotations

# Chinese texts use Chinese punctuation (full-width commas, colons and brackets).
# ruff: noqa: RUF001
import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import ledger
from consent.catalog.models import CatalogField, Purpose
from consent.tiers import Tier
from governance.profiles.models import Subject
from governance.requests.models import SubjectRequest
from governance.requests.services import iso

__all__ = ["EXPLANATION_FORMAT", "LEGAL_BASIS_TEXT", "explain"]

EXPLANATION_FORMAT = "governance-subject-explanation/1"

#: PIPL art. 13's lawful bases, as a customer reads them.
LEGAL_BASIS_TEXT: dict[str, dict[str, str]] = {
    "consent": {"zh": "基于您的同意（可随时撤回）", "en": "Your consent (you may withdraw it)"},
    "contract": {
        "zh": "为订立、履行您作为一方当事人的合同所必需",
        "en": "Needed to enter into or perform a contract with you",
    },
    "legal_obligation": {
        "zh": "为履行法定职责或者法定义务所必需",
        "en": "Needed to meet a legal duty or obligation",
    },
    "vital_interest": {
        "zh": "为应对突发公共卫生事件，或者紧急情况下为保护自然人的生命健康和财产安全所必需",
        "en": "Needed in an emergency to protect someone's life, health or property",
    },
    "public_interest": {
        "zh": "为公共利益实施新闻报道、舆论监督等行为，在合理的范围内处理",
        "en": "Reasonable handling in the public interest",
    },
    "news_reporting": {
        "zh": "为公共利益实施新闻报道、舆论监督等行为",
        "en": "News reporting and public-opinion oversight in the public interest",
    },
    "public_information": {
        "zh": "在合理的范围内处理您自行公开或者其他已经合法公开的个人信息",
        "en": "Information you made public, or that was lawfully made public, within reason",
    },
}

_RESTRICTED = {
    "zh": "您已限制处理您的个人信息：除您本人查阅外，目前任何目的都不会使用这些信息。",
    "en": "You have restricted processing: apart from your own access, no purpose uses "
    "your data now.",
}
_SUMMARY = {
    "zh": "以下说明我们为哪些目的处理您的个人信息、依据什么、提供给谁，以及各类信息保存多久。",
    "en": "This explains for which purposes we process your personal information, on what "
    "basis, who receives it, and how long each kind of information is kept.",
}


def _tier(value: str | None) -> Tier | None:
    try:
        return Tier(value) if value else None
    except ValueError:
        return None


def explain(
    session: Session,
    request: SubjectRequest,
    *,
    controller: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The explanation answering ``request`` (read-only; nothing is written)."""
    now = now or dt.datetime.now(dt.UTC)
    subject = session.get(Subject, request.subject_id)
    restricted = subject is not None and subject.restricted_at is not None
    fields = list(session.scalars(select(CatalogField).order_by(CatalogField.name)))
    states = {s.purpose: s for s in ledger.states(session, request.subject_id)}
    purposes = []
    recipients: dict[tuple[str, str | None], list[str]] = {}
    for purpose in session.scalars(select(Purpose).order_by(Purpose.id)):
        state = states.get(purpose.id)
        if purpose.legal_basis == "consent":
            asked = _tier(state.tier if state else None) or Tier.BASIC
            answer = ledger.check(session, request.subject_id, purpose.id, asked, now=now)
            applies, reason, tier = answer.valid, answer.reason, _tier(answer.tier)
        else:
            applies, reason, tier = True, "legal_basis", _tier(purpose.required_tier)
        processed = applies and not restricted
        categories = (
            sorted({f.category for f in fields if tier is not None and tier.covers(Tier(f.tier))})
            if processed
            else []
        )
        if processed and purpose.recipient:
            recipients.setdefault((purpose.recipient, purpose.recipient_country), []).append(
                purpose.id
            )
        purposes.append(
            {
                "purpose": purpose.id,
                "name": {"zh": purpose.name_zh, "en": purpose.name_en},
                "explanation": {"zh": purpose.explanation_zh, "en": purpose.explanation_en},
                "legal_basis": purpose.legal_basis,
                "legal_basis_text": LEGAL_BASIS_TEXT.get(purpose.legal_basis),
                "separate_consent": purpose.separate_consent,
                "optional": purpose.optional,
                "status": state.status if state else None,
                "reason": "processing_restricted" if applies and restricted else reason,
                "processed": processed,
                "tier": tier.value if tier else None,
                "field_categories": categories,
                "recipient": purpose.recipient,
                "recipient_country": purpose.recipient_country,
            }
        )
    by_category: dict[str, list[CatalogField]] = {}
    for f in fields:
        by_category.setdefault(f.category, []).append(f)
    retention = [
        {
            "category": category,
            "retention_days": max(f.retention_days for f in members),
            "fields": [
                {
                    "name": f.name,
                    "label": {"zh": f.label_zh, "en": f.label_en},
                    "tier": f.tier,
                    "pipl_sensitive": f.pipl_sensitive,
                    "retention_days": f.retention_days,
                }
                for f in members
            ],
        }
        for category, members in sorted(by_category.items())
    ]
    return {
        "format": EXPLANATION_FORMAT,
        "request": request.id,
        "subject": request.subject_id,
        "controller": controller,
        "generated_at": iso(now),
        "summary": _SUMMARY,
        "restricted": restricted,
        "restriction": _RESTRICTED if restricted else None,
        "purposes": purposes,
        "recipients": [
            {"recipient": name, "country": country, "purposes": ids}
            for (name, country), ids in sorted(recipients.items(), key=lambda kv: kv[0][0])
        ],
        "retention": retention,
    }
