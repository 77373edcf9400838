"""Words for the codes pages show: tiers, statuses, request kinds, roles, refusal reasons.

Each table maps a code to a lazily translated label, so a template writes
``{{ label("tier", view.tier) }}`` and gets it in the page's language. A code missing from
a table is shown as it is (a test holds every table complete for the codes that exist).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

__all__ = ["LABELS", "label", "labels_of", "reader_text"]

TIERS = {
    "basic": _l("Basic"),
    "behaviour": _l("Behaviour"),
    "payment": _l("Payment"),
}

TIER_SUMMARIES = {
    "basic": _l("Who you are and how to reach you: contact details and basic profile."),
    "behaviour": _l("Basic, plus what you do with us: browsing, group chats, coupons, visits."),
    "payment": _l("Behaviour, plus what you spend and how you pay."),
}

#: A purpose's standing for the customer (governance.web.purposes.PurposeView.status).
STATUSES = {
    "granted": _l("You agreed"),
    "reconsent": _l("Needs your agreement again"),
    "withdrawn": _l("You withdrew"),
    "refused": _l("You said no"),
    "expired": _l("Your agreement expired"),
    "never": _l("Not decided yet"),
    "guardian": _l("Needs your guardian"),
    "legal_basis": _l("Needed for the service"),
}

GROUPS = {
    "ours": _l("Uses by us"),
    "sharing": _l("Sharing with others"),
    "service": _l("Needed to serve you"),
}

GROUP_SUMMARIES = {
    "ours": _l("What we do with your data ourselves, if you agree. Each one is your choice."),
    "sharing": _l(
        "Giving your data to another company or abroad. Each one needs its own, separate "
        "agreement; saying no to one never affects the others."
    ),
    "service": _l("What we must do to deliver your orders and membership. No consent is asked."),
}

SEPARATE_REASONS = {
    "sensitive_pi": _l("It uses sensitive personal information."),
    "third_party_provision": _l("Your data is given to another company."),
    "public_disclosure": _l("Your data is made public."),
    "cross_border": _l("Your data is sent outside mainland China."),
}

EVENT_KINDS = {
    "grant": _l("Agreed"),
    "withdraw": _l("Withdrew"),
    "refuse": _l("Said no"),
    "expire": _l("Expired"),
    "reconsent_required": _l("Notice changed"),
}

REQUEST_KINDS = {
    "access": _l("Copy of my data"),
    "portability": _l("Copy to take elsewhere"),
    "explanation": _l("Explanation"),
    "correction": _l("Correction"),
    "erasure": _l("Erasure"),
    "restriction": _l("Restriction"),
    "restriction_lift": _l("End of restriction"),
}

REQUEST_STATUSES = {
    "open": _l("Received"),
    "in_progress": _l("Being handled"),
    "completed": _l("Done"),
    "rejected": _l("Declined"),
}

REQUEST_REASONS = {
    "inaccurate": _l("It is wrong"),
    "incomplete": _l("It is incomplete"),
    "outdated": _l("It is out of date"),
    "no_longer_needed": _l("It is no longer needed"),
    "consent_withdrawn": _l("I withdrew my consent"),
    "unlawful_processing": _l("It is handled unlawfully"),
    "other": _l("Another reason"),
}

REJECT_REASONS = {
    "identity_not_verified": _l("We could not confirm it was you"),
    "legal_retention": _l("A law requires us to keep it"),
    "manifestly_unfounded": _l("The request is unfounded"),
    "duplicate": _l("You asked for this already"),
    "records_accurate": _l("Our records are correct"),
    "out_of_scope": _l("This request does not apply"),
    "other": _l("Another reason"),
}

ROLES = {
    "dpo": _l("Data protection officer"),
    "marketing": _l("Marketing staff"),
    "customer_service": _l("Customer service staff"),
    "analyst": _l("Analysts"),
    "admin": _l("Administrators"),
}

READERS = {
    "service": _l("System"),
    "operator": _l("Staff"),
    "partner": _l("Partner"),
    "subject": _l("You"),
    "other": _l("Platform"),
}

DECISIONS = {
    "allow": _l("Allowed"),
    "deny": _l("Refused"),
    "error": _l("Failed, nothing shown"),
}

#: Why a read withheld fields (policy reasons), in plain words.
READ_REASONS = {
    "unknown_actor": _l("the reader is unknown"),
    "purpose_not_granted": _l("the reader may not use it for this purpose"),
    "processing_restricted": _l("you restricted processing"),
    "legal_basis_not_allowed": _l("not covered by the legal basis"),
    "consent_invalid": _l("you had not agreed, or withdrew"),
    "guardian_required": _l("needs your guardian's agreement"),
    "classification_not_granted": _l("this reader may not see it"),
    "tier_not_covered": _l("outside the level you chose"),
    "separate_consent_required": _l("needs your separate agreement"),
    "personalisation_refused": _l("you said no to personalisation"),
    "agreement_expired": _l("the partner's agreement had ended"),
    "outside_allowed_hours": _l("outside working hours"),
    "volume_above_limit": _l("too many reads"),
    "step_up_required": _l("the extra sign-in check was missing"),
    "unknown_obligation": _l("a safeguard could not be applied"),
    "unknown_subject": _l("no such customer"),
    "engine_error": _l("the decision could not be made"),
}

#: Why the ledger refused a decision (consent.ledger.ConsentRefused.reason).
REFUSALS = {
    "separate_consent_not_bundled": _l("This use needs its own, separate agreement."),
    "guardian_required": _l(
        "You are under 14: your parent or guardian has to agree for you (PIPL art. 31)."
    ),
    "guardian_evidence_required": _l("Your guardian's agreement needs proof of guardianship."),
    "behalf_evidence_required": _l("This needs proof that you asked us."),
    "tier_below_required": _l("This use needs a higher level than the one chosen."),
    "notice_not_in_effect": _l("That privacy notice is not in force yet."),
    "notice_superseded": _l("The privacy notice changed; please read it and decide again."),
    "consent_not_applicable": _l("This use does not rest on your consent."),
}

LABELS: dict[str, dict[str, Any]] = {
    "tier": TIERS,
    "tier_summary": TIER_SUMMARIES,
    "status": STATUSES,
    "group": GROUPS,
    "group_summary": GROUP_SUMMARIES,
    "separate_reason": SEPARATE_REASONS,
    "event": EVENT_KINDS,
    "request_kind": REQUEST_KINDS,
    "request_status": REQUEST_STATUSES,
    "request_reason": REQUEST_REASONS,
    "reject_reason": REJECT_REASONS,
    "role": ROLES,
    "reader": READERS,
    "decision": DECISIONS,
    "read_reason": READ_REASONS,
    "refusal": REFUSALS,
}


def label(table: str, code: str | None) -> str:
    """The label of ``code`` in ``table``, in the page's language ('' for None)."""
    if code is None:
        return ""
    text = LABELS[table].get(code)
    return str(text) if text is not None else code


def labels_of(table: str, codes: Any) -> str:
    """The labels of ``codes`` in ``table``, joined as the page's language lists things."""
    return _(", ").join(label(table, code) for code in codes)


def reader_text(reader: Any) -> str:
    """Who read, as the customer reads it (a :class:`governance.web.activity.Reader`)."""
    if reader.kind == "subject":
        return str(READERS["subject"])
    if reader.kind == "service":
        return _("System: %(name)s", name=reader.name or "?")
    if reader.kind == "operator":
        roles = labels_of("role", reader.roles) or "?"
        return _("Staff: %(roles)s", roles=roles)
    if reader.kind == "partner":
        return _("Partner: %(name)s", name=reader.name or "?")
    return str(READERS["other"])
