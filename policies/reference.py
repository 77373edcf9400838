"""The access policy in plain Python: the reference the Rego decision is tested against.

:func:`decide` follows ``docs/policy.md`` rule by rule, written apart from the Rego in
``policies/governance/access/`` so that a differential test can compare the two on random
inputs. It is not used to make decisions.

Default deny, and fail closed on malformed input: a fact that opens access counts only when
it is exactly ``True`` (a valid consent, a guardian's consent, a separate-consent purpose,
an approved agreement, personalisation accepted); a fact that restricts access counts unless
it is exactly ``False`` (a minor, a PIPL-sensitive field, free text, a bulk export). Ids,
categories, classifications and tiers count only when they are strings; hours, volumes and
second-factor ages only when they are numbers (``bool`` is not a number).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

ACTOR_TYPES = frozenset({"operator", "service", "partner", "subject"})
#: The consent tiers, in order: a grant covers its own tier and every lower one.
TIER_RANK = {"basic": 0, "behaviour": 1, "payment": 2}
#: The order of a field's obligations.
OBLIGATION_ORDER = ("mask", "redact", "step_up")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` when ``obj`` is a mapping that has it, else ``None``."""
    return obj.get(key) if isinstance(obj, Mapping) else None


def _is_number(value: Any) -> bool:
    """A JSON number (``True`` and ``False`` are not numbers)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _listed(value: Any, values: Any) -> bool:
    """``value`` is a string listed in the list ``values``."""
    return isinstance(value, str) and isinstance(values, list) and value in values


def _lookup(table: Any, key: Any) -> Any:
    """``table[key]`` for a string key of a mapping, else ``None``."""
    if isinstance(key, str) and isinstance(table, Mapping):
        return table.get(key)
    return None


class _Request:
    """The facts of one decision input, read once, and the reasons shared by all its fields."""

    def __init__(self, policy_input: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        self.data = data
        self.actor = _get(policy_input, "actor")
        self.actor_type = _get(self.actor, "type")
        self.known_actor = isinstance(self.actor_type, str) and self.actor_type in ACTOR_TYPES
        self.purpose = _get(policy_input, "purpose")
        self.purpose_id = _get(self.purpose, "id")
        self.legal_basis = _get(self.purpose, "legal_basis")
        self.consent = _get(policy_input, "consent")
        self.subject = _get(policy_input, "subject")
        self.context = _get(policy_input, "context")
        self.personalisation_accepted = _get(policy_input, "personalised_recommendation") is True
        self.roles = self._known_roles()
        self.granting_roles = [
            r for r in self.roles if _listed(self.purpose_id, data["roles"][r].get("purposes"))
        ]
        self.basis_rules = _lookup(data.get("legal_bases"), self.legal_basis)
        self.self_access = (
            self.actor_type == "subject"
            and _get(self.subject, "self") is True
            and _listed(self.purpose_id, data.get("subject_access_purposes"))
        )
        self.reasons = self._request_reasons()

    def _known_roles(self) -> list[str]:
        """An operator's roles that the data knows (none for other actors)."""
        roles = _get(self.actor, "roles")
        if self.actor_type != "operator" or not isinstance(roles, list):
            return []
        table = self.data["roles"]
        return [r for r in roles if isinstance(r, str) and isinstance(table.get(r), Mapping)]

    # -- reasons that hold for every field ------------------------------------------------

    def _request_reasons(self) -> set[str]:
        """The reasons that do not depend on the field."""
        reasons: set[str] = set()
        if not self.known_actor:
            reasons.add("unknown_actor")
        elif not self._purpose_granted():
            reasons.add("purpose_not_granted")
        if not isinstance(self.basis_rules, Mapping):
            reasons.add("legal_basis_not_allowed")
        if self.legal_basis == "consent":
            if _get(self.consent, "valid") is not True:
                reasons.add("consent_invalid")
            minor = _get(self.subject, "minor") is not False
            if minor and _get(self.consent, "by_guardian") is not True:
                reasons.add("guardian_required")
        if self.actor_type == "partner" and not self._agreement_in_force():
            reasons.add("agreement_expired")
        if self.actor_type == "operator" and not self._within_allowed_hours():
            reasons.add("outside_allowed_hours")
        if self.volume_above("deny_above"):
            reasons.add("volume_above_limit")
        if (
            self.known_actor
            and not self.self_access
            and _get(self.subject, "restricted") is not False
        ):
            reasons.add("processing_restricted")
        return reasons

    def _purpose_granted(self) -> bool:
        """The actor's roles, key scope or agreement cover the purpose."""
        if self.actor_type == "operator":
            return bool(self.granting_roles)
        if self.actor_type == "service":
            return _listed(self.purpose_id, _get(self.actor, "purposes"))
        if self.actor_type == "partner":
            agreement = _get(self.actor, "agreement")
            return _listed(self.purpose_id, _get(agreement, "purposes"))
        return self.self_access

    def _agreement_in_force(self) -> bool:
        """The partner's agreement is approved and today is within its dates (inclusive)."""
        agreement = _get(self.actor, "agreement")
        if _get(agreement, "approved") is not True:
            return False
        start, end = _get(agreement, "valid_from"), _get(agreement, "valid_until")
        today = _get(self.context, "today")
        dates = (start, end, today)
        if not all(isinstance(d, str) and _ISO_DATE.fullmatch(d) for d in dates):
            return False
        return bool(start <= today <= end)

    def _within_allowed_hours(self) -> bool:
        """The request's hour is inside the hours of at least one of the operator's roles."""
        hour = _get(self.context, "hour")
        if not _is_number(hour) or not 0 <= hour < 24:
            return False
        return any(_hour_in(self.data["roles"][r].get("hours"), hour) for r in self.roles)

    def volume_above(self, threshold: str) -> bool:
        """Today's volume is above the actor type's threshold (not a number: above all)."""
        if not self.known_actor:
            return False
        table = "bulk_volume" if _get(self.context, "bulk") is True else "volume"
        limit = _get(_lookup(self.data.get(table), self.actor_type), threshold)
        if not _is_number(limit):
            return False
        volume = _get(self.context, "volume")
        return not (_is_number(volume) and volume <= limit)

    # -- reasons of one field -------------------------------------------------------------

    def field_reasons(self, field: Mapping[str, Any]) -> set[str]:
        """The reasons that depend on the field."""
        reasons: set[str] = set()
        category = field.get("category")
        classification = field.get("classification")
        if not self._classification_granted(category, classification):
            reasons.add("classification_not_granted")
        if (
            isinstance(self.basis_rules, Mapping)
            and self.legal_basis != "consent"
            and not self.self_access
            and not _listed(category, self.basis_rules.get("categories"))
        ):
            reasons.add("legal_basis_not_allowed")
        if self.legal_basis == "consent" and not _tier_covers(
            _get(self.consent, "tier"), field.get("tier")
        ):
            reasons.add("tier_not_covered")
        if (
            field.get("pipl_sensitive") is not False
            and _get(self.purpose, "separate_consent") is not True
            and not self.self_access
        ):
            reasons.add("separate_consent_required")
        if (
            self.purpose_id == "personalised_recommendation"
            and not self.personalisation_accepted
            and not _listed(category, self.data.get("non_personal_categories"))
        ):
            reasons.add("personalisation_refused")
        return reasons

    def _classification_granted(self, category: Any, classification: Any) -> bool:
        """The actor may see the field's classification (partners: its category)."""
        if self.self_access:
            return True
        if self.actor_type == "operator":
            roles = self.data["roles"]
            return any(
                _listed(classification, roles[r].get("classifications"))
                for r in self.granting_roles
            )
        if self.actor_type == "service":
            return _listed(classification, _get(self.data.get("services"), "classifications"))
        if self.actor_type == "partner":
            agreement = _get(self.actor, "agreement")
            return _listed(category, _get(agreement, "categories"))
        return not self.known_actor  # an unknown actor is denied by unknown_actor

    # -- obligations ----------------------------------------------------------------------

    def obligations(self, name: str, entries: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """What the reader of the allowed field ``name`` must do, in OBLIGATION_ORDER."""
        found: dict[str, dict[str, Any]] = {}
        mask = _lookup(self.data.get("masks"), name)
        if self.actor_type == "operator" and isinstance(mask, Mapping) and "style" in mask:
            unmasked = mask.get("unmasked_roles")
            if not any(_listed(r, unmasked) for r in self.roles):
                found["mask"] = {"type": "mask", "style": mask["style"]}
        if any(f.get("free_text") is not False for f in entries):
            found["redact"] = {"type": "redact"}
        step_up = self.data.get("step_up")
        if self.actor_type == "operator" and isinstance(step_up, Mapping) and "minutes" in step_up:
            minutes = step_up["minutes"]
            sensitive = any(
                _listed(f.get("classification"), step_up.get("classifications")) for f in entries
            )
            bulk = _get(self.context, "bulk") is not False
            mfa_age = _get(self.actor, "mfa_age_minutes")
            fresh = _is_number(mfa_age) and _is_number(minutes) and mfa_age <= minutes
            if (sensitive or bulk) and not fresh:
                found["step_up"] = {"type": "step_up", "within_minutes": minutes}
        return [found[t] for t in OBLIGATION_ORDER if t in found]


def _tier_covers(granted: Any, needed: Any) -> bool:
    """A consent of tier ``granted`` covers a field of tier ``needed``."""
    granted_rank = _lookup(TIER_RANK, granted)
    needed_rank = _lookup(TIER_RANK, needed)
    return granted_rank is not None and needed_rank is not None and granted_rank >= needed_rank


def _hour_in(window: Any, hour: float) -> bool:
    """``hour`` is in ``[start, end)``; a window whose start is after its end runs overnight."""
    if not isinstance(window, list) or len(window) != 2:
        return False
    start, end = window
    if not (_is_number(start) and _is_number(end)):
        return False
    if start <= end:
        return bool(start <= hour < end)
    return bool(hour >= start or hour < end)


def _fields_by_name(policy_input: Mapping[str, Any]) -> dict[str, list[Mapping[str, Any]]]:
    """The input's field entries (objects with a string name), grouped by name."""
    fields = _get(policy_input, "fields")
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    if not isinstance(fields, list):
        return grouped
    for f in fields:
        if isinstance(f, Mapping) and isinstance(f.get("name"), str):
            grouped.setdefault(f["name"], []).append(f)
    return grouped


def decide(policy_input: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The decision for ``policy_input`` under ``data`` (the document ``data.json``).

    Returns ``{"fields": {name: {"allow", "reasons", "obligations"}}, "flags": [...]}``
    with an entry for every named field; reasons and flags sorted and unique. A field named
    more than once gets the reasons of all its entries (and, if allowed, the obligations
    any of them needs).
    """
    request = _Request(policy_input if isinstance(policy_input, Mapping) else {}, data)
    decided: dict[str, Any] = {}
    for name, entries in _fields_by_name(policy_input).items():
        reasons = set(request.reasons)
        for entry in entries:
            reasons |= request.field_reasons(entry)
        if not reasons and request.known_actor:
            decided[name] = {
                "allow": True,
                "reasons": [],
                "obligations": request.obligations(name, entries),
            }
        else:
            decided[name] = {"allow": False, "reasons": sorted(reasons), "obligations": []}
    flags = ["volume_above_flag_threshold"] if request.volume_above("flag_above") else []
    return {"fields": decided, "flags": flags}
