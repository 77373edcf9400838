# METADATA
# title: Obligations
# description: >-
#   What the reader of an allowed field must do with its value: mask it, redact it (free
#   text, through the PII guard), or pass a fresh second factor first. Listed in the order
#   mask, redact, step_up. A denied field has none (access.rego).
package governance.access

import rego.v1

_masks := data.governance.access.masks

_step_up := data.governance.access.step_up

# entries: the input's entries of the field `name` (one, unless it was named twice).
_obligations(name, entries) := array.concat(
	array.concat(
		[{"type": "mask", "style": _masks[name].style} | _masked(name)],
		[{"type": "redact"} | _free_text(entries)],
	),
	[{"type": "step_up", "within_minutes": _step_up.minutes} | _step_up_due(entries)],
)

# An operator none of whose roles may see the field unmasked.
_masked(name) if {
	input.actor.type == "operator"
	is_object(_masks[name])
	not _unmasked(name)
}

_unmasked(name) if {
	some r in _roles
	_listed(r, _masks[name].unmasked_roles)
}

# Free text is redacted for every reader; anything but an explicit false is free text.
_free_text(entries) if {
	some f in entries
	not f.free_text == false
}

# Operators only: services and partners are machines and have no second factor.
_step_up_due(entries) if {
	_second_factor_stale
	_step_up_needed(entries)
}

_second_factor_stale if {
	input.actor.type == "operator"
	not _recent_second_factor
}

_recent_second_factor if {
	is_number(input.actor.mfa_age_minutes)
	is_number(_step_up.minutes)
	input.actor.mfa_age_minutes <= _step_up.minutes
}

_step_up_needed(entries) if {
	some f in entries
	_listed(f.classification, _step_up.classifications)
}

# A bulk export; anything but an explicit false counts as one.
_step_up_needed(_) if not input.context.bulk == false
