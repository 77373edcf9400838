# METADATA
# title: Field access decisions
# description: >-
#   Whether an actor may use each profile field for a purpose, and why not (docs/policy.md).
#   This file holds the decision and the rules on grants, legal basis, consent, separate
#   consent, minors and art. 24 refusals; context.rego the partner agreement, allowed hours
#   and volume; obligations.rego what the reader of an allowed field must do.
#
#   Default deny: a field is allowed only when no rule gives a reason against it and the
#   actor type is known. Facts that open access count only when exactly true (a valid
#   consent, a guardian's consent, a separate-consent purpose, an approved agreement, an
#   accepted personalisation); facts that restrict it count unless exactly false (a minor,
#   a PIPL-sensitive field, free text, a bulk export). Ids, categories, classifications
#   and tiers count only as strings, hours, volumes and second-factor ages only as
#   numbers. A missing or malformed input therefore denies (or obliges).
package governance.access

import rego.v1

_actor_types := {"operator", "service", "partner", "subject"}

# The consent tiers, in order: a grant covers its own tier and every lower one.
_tier_rank := {"basic": 0, "behaviour": 1, "payment": 2}

_roles_data := data.governance.access.roles

_services_data := data.governance.access.services

_legal_bases := data.governance.access.legal_bases

_non_personal_categories := data.governance.access.non_personal_categories

_subject_access_purposes := data.governance.access.subject_access_purposes

# METADATA
# title: decision
# description: >-
#   For every field named in input.fields: allow, sorted reasons, obligations (none when
#   denied); and the request's sorted flags.
# entrypoint: true
decision := {"fields": _field_decisions, "flags": _sorted(flags)}

# -- fields ---------------------------------------------------------------------------------

# The entries of input.fields (undefined, so no field, unless it is an array).
_entries := input.fields if is_array(input.fields)

# Some entry has no name, or shares its name with another.
_names_repeated if count({f.name | some f in _entries}) != count(_entries)

# Each field named once (what the platform sends): one entry per name.
_field_decisions := {f.name: _decide(f.name, _request_reasons | _entry_reasons(f), [f]) |
	some f in _entries
	is_string(f.name)
} if {
	not _names_repeated
}

# A field named more than once gets the reasons of every one of its entries.
_field_decisions := {name: _decide(name, reasons, entries) |
	some name in {f.name | some f in _entries; is_string(f.name)}
	entries := [f | some f in _entries; f.name == name]
	reasons := _request_reasons | {r | some f in entries; some r in _entry_reasons(f)}
} if {
	_names_repeated
}

# Default deny: a field is allowed only without a reason (an unknown actor always has
# one), and only an allowed field has obligations.
_decide(name, reasons, entries) := {"allow": true, "reasons": [], "obligations": _obligations(name, entries)} if {
	count(reasons) == 0
}

_decide(_, reasons, _) := {"allow": false, "reasons": _sorted(reasons), "obligations": []} if {
	count(reasons) > 0
}

# The set s as a sorted array. (regopy 1.5's sort() of a set gives a set, which prints as
# an array but is not equal to one.)
_sorted(s) := sort([x | some x in s])

# -- the actor ------------------------------------------------------------------------------

_known_actor if input.actor.type in _actor_types

# x is a string listed in the array xs.
_listed(x, xs) if {
	is_string(x)
	is_array(xs)
	x in xs
}

# The operator's roles that the data knows.
_roles contains r if {
	input.actor.type == "operator"
	is_array(input.actor.roles)
	some r in input.actor.roles
	is_string(r)
	is_object(_roles_data[r])
}

# The operator's roles that grant the purpose.
_granting_roles contains r if {
	some r in _roles
	_listed(input.purpose.id, _roles_data[r].purposes)
}

# -- reasons that hold for every field of the request ---------------------------------------

_request_reasons contains "unknown_actor" if not _known_actor

_request_reasons contains "purpose_not_granted" if {
	_known_actor
	not _purpose_granted
}

_purpose_granted if {
	input.actor.type == "operator"
	count(_granting_roles) > 0
}

_purpose_granted if {
	input.actor.type == "service"
	_listed(input.purpose.id, input.actor.purposes)
}

_purpose_granted if {
	input.actor.type == "partner"
	_listed(input.purpose.id, input.actor.agreement.purposes)
}

_purpose_granted if _self_access

# PIPL arts. 45 and 50: customers may access (and copy) their own information, all of it:
# no classification, category, separate-consent or tier rule applies to their own data.
_self_access if {
	input.actor.type == "subject"
	input.subject.self == true
	_listed(input.purpose.id, _subject_access_purposes)
}

# PIPL art. 44: a customer who restricted processing is read by no one but themselves.
_request_reasons contains "processing_restricted" if {
	_known_actor
	not _self_access
	not input.subject.restricted == false
}

_request_reasons contains "legal_basis_not_allowed" if not _known_legal_basis

_known_legal_basis if {
	is_string(input.purpose.legal_basis)
	is_object(_legal_bases[input.purpose.legal_basis])
}

_consent_basis if input.purpose.legal_basis == "consent"

_request_reasons contains "consent_invalid" if {
	_consent_basis
	not input.consent.valid == true
}

_request_reasons contains "guardian_required" if {
	_consent_basis
	not input.subject.minor == false
	not input.consent.by_guardian == true
}

# -- reasons that depend on the field -------------------------------------------------------

# One line a reason. Each reason is given when a helper is *not* true, so a missing or
# malformed fact gives the reason: these checks fail closed.
_entry_reasons(f) := union({
	{"classification_not_granted" | not _classification_granted(f)},
	{"legal_basis_not_allowed" | _basis_restricted; not _basis_covers(f)},
	{"tier_not_covered" | _consent_basis; not _tier_covered(f)},
	{"separate_consent_required" | not f.pipl_sensitive == false; _separate_consent_missing},
	{"personalisation_refused" | _personalisation_refused; not _non_personal(f)},
})

# Operators and services are granted classifications, partners categories: the field's
# `_granted_attribute` must be one of the `_granted_values`.
_classification_granted(f) if f[_granted_attribute] in _granted_values

# An unknown actor is denied by unknown_actor.
_classification_granted(_) if not _known_actor

_classification_granted(_) if _self_access

_granted_attribute := "classification" if input.actor.type in {"operator", "service"}

_granted_attribute := "category" if input.actor.type == "partner"

# Operators: only the roles that grant the purpose count (none grants it: none counts).
_granted_values contains c if {
	some r in _granting_roles
	some c in _roles_data[r].classifications
	is_string(c)
}

_granted_values contains c if {
	input.actor.type == "service"
	some c in _services_data.classifications
	is_string(c)
}

_granted_values contains c if {
	input.actor.type == "partner"
	is_array(input.actor.agreement.categories)
	some c in input.actor.agreement.categories
	is_string(c)
}

# Consent is not limited to categories; every other known basis is (but for a customer's
# access to their own data).
_basis_restricted if {
	_known_legal_basis
	not _consent_basis
	not _self_access
}

_basis_covers(f) if _listed(f.category, _legal_bases[input.purpose.legal_basis].categories)

_tier_covered(f) if _tier_rank[f.tier] <= _tier_rank[input.consent.tier]

# Anything but an explicit false counts as PIPL-sensitive (above); only an explicit true
# makes the purpose a separate-consent one.
_separate_consent_missing if {
	not input.purpose.separate_consent == true
	not _self_access
}

# PIPL art. 24: a subject who refuses personalisation keeps only non-personal categories.
_personalisation_refused if {
	input.purpose.id == "personalised_recommendation"
	not input.personalised_recommendation == true
}

_non_personal(f) if _listed(f.category, _non_personal_categories)
