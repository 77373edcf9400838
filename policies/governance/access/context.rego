# METADATA
# title: Request context
# description: >-
#   The partner agreement in force, operators' allowed hours and the daily volume: reasons
#   that hold for every field of a request, and the flags the DPO is told about.
package governance.access

import rego.v1

# A bulk export (exactly true) is held to its own, larger thresholds: it counts records,
# not requests. Anything else is held to the request thresholds, the stricter ones.
_volume_data := data.governance.access.bulk_volume if input.context.bulk == true

_volume_data := data.governance.access.volume if not input.context.bulk == true

# -- partner agreement ----------------------------------------------------------------------

_request_reasons contains "agreement_expired" if {
	input.actor.type == "partner"
	not _agreement_in_force
}

# Approved, and today within valid_from..valid_until, both days included.
_agreement_in_force if {
	agreement := input.actor.agreement
	agreement.approved == true
	_iso_date(agreement.valid_from)
	_iso_date(agreement.valid_until)
	_iso_date(input.context.today)
	agreement.valid_from <= input.context.today
	input.context.today <= agreement.valid_until
}

# YYYY-MM-DD, which orders as a string the way the dates do.
_iso_date(d) if {
	is_string(d)
	regex.match(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`, d)
}

# -- allowed hours --------------------------------------------------------------------------

_request_reasons contains "outside_allowed_hours" if {
	input.actor.type == "operator"
	not _within_allowed_hours
}

_within_allowed_hours if {
	_valid_hour(input.context.hour)
	some r in _roles
	window := _roles_data[r].hours
	is_array(window)
	count(window) == 2
	_in_window(window[0], window[1], input.context.hour)
}

_valid_hour(hour) if {
	is_number(hour)
	hour >= 0
	hour < 24
}

# [start, end): 8 <= hour < 22 for [8, 22]; a window whose start is after its end runs
# overnight ([22, 6]: from 22:00 to 06:00).
_in_window(start, end, hour) if {
	is_number(start)
	is_number(end)
	start <= end
	start <= hour
	hour < end
}

_in_window(start, end, hour) if {
	is_number(start)
	is_number(end)
	start > end
	hour >= start
}

_in_window(start, end, hour) if {
	is_number(start)
	is_number(end)
	start > end
	hour < end
}

# -- volume ---------------------------------------------------------------------------------

# A volume that is not a number counts as above every threshold.
_request_reasons contains "volume_above_limit" if _volume_above("deny_above")

# METADATA
# title: flags
# description: What the DPO is told about; the decision stands.
flags contains "volume_above_flag_threshold" if _volume_above("flag_above")

_volume_above(threshold) if {
	_known_actor
	limit := _volume_data[input.actor.type][threshold]
	is_number(limit)
	not _number_at_most(input.context.volume, limit)
}

_number_at_most(value, limit) if {
	is_number(value)
	value <= limit
}
