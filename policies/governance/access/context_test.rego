# Tests of the request context: partner agreements, allowed hours, volume and its flag.
# Fictional inputs; the builders (cs_request, bank_request, with_context, ...) are in
# access_test.rego.
package governance.access_test

import rego.v1

bank_with_agreement(key, value) := bank_request_with(with_key(agreement, key, value))

bank_request_with(an_agreement) := with_key(bank_request([order_total_12m]), "actor", partner(an_agreement))

# -- agreement_expired ------------------------------------------------------------------------

test_allow_partner_within_agreement_dates if {
	allowed(bank_request([order_total_12m]), "order_total_12m")
}

test_deny_partner_after_agreement_ends if {
	req := bank_with_agreement("valid_until", "2026-11-24")
	denied_only_for(req, "order_total_12m", ["agreement_expired"])
}

test_deny_partner_before_agreement_starts if {
	req := bank_with_agreement("valid_from", "2026-11-26")
	denied_only_for(req, "order_total_12m", ["agreement_expired"])
}

test_allow_partner_on_first_and_last_day_of_agreement if {
	allowed(bank_with_agreement("valid_from", "2026-11-25"), "order_total_12m")
	allowed(bank_with_agreement("valid_until", "2026-11-25"), "order_total_12m")
}

test_deny_partner_agreement_not_approved if {
	denied_only_for(bank_with_agreement("approved", false), "order_total_12m", ["agreement_expired"])
	denied_only_for(bank_with_agreement("approved", null), "order_total_12m", ["agreement_expired"])
}

test_deny_partner_agreement_with_malformed_date if {
	denied_only_for(bank_with_agreement("valid_until", "31/12/2026"), "order_total_12m", ["agreement_expired"])
	req := with_context(bank_request([order_total_12m]), "today", null)
	denied_only_for(req, "order_total_12m", ["agreement_expired"])
}

test_agreement_not_checked_for_operators_and_services if {
	not "agreement_expired" in reasons(cs_request([nickname]), "nickname")
	not "agreement_expired" in reasons(push_request([city]), "city")
}

# -- outside_allowed_hours --------------------------------------------------------------------

test_allow_operator_from_first_allowed_hour if {
	allowed(with_context(cs_request([nickname]), "hour", 8), "nickname")
	allowed(with_context(cs_request([nickname]), "hour", 21), "nickname")
}

test_deny_operator_at_end_of_allowed_hours if {
	req := with_context(cs_request([nickname]), "hour", 22)
	denied_only_for(req, "nickname", ["outside_allowed_hours"])
}

test_deny_operator_before_allowed_hours if {
	req := with_context(cs_request([nickname]), "hour", 7)
	denied_only_for(req, "nickname", ["outside_allowed_hours"])
}

test_allow_operator_within_hours_of_any_role if {
	# analyst hours end at 20, customer_service hours at 22.
	req := request(operator(["analyst", "customer_service"]), customer_service, consent("basic"), [nickname])
	allowed(with_context(req, "hour", 21), "nickname")
}

test_deny_operator_without_hour if {
	req := with_key(cs_request([nickname]), "context", object.remove(context, ["hour"]))
	denied_only_for(req, "nickname", ["outside_allowed_hours"])
	denied_only_for(with_context(cs_request([nickname]), "hour", 24), "nickname", ["outside_allowed_hours"])
	denied_only_for(with_context(cs_request([nickname]), "hour", "14"), "nickname", ["outside_allowed_hours"])
}

# The data's roles, with customer service working from 22:00 to 06:00.
night_shift := with_key(data.governance.access.roles, "customer_service", {
	"purposes": ["customer_service"],
	"classifications": ["internal", "core"],
	"hours": [22, 6],
})

test_overnight_hours_wrap_around_midnight if {
	roles := night_shift
	allowed(with_context(cs_request([nickname]), "hour", 23), "nickname") with data.governance.access.roles as roles
	allowed(with_context(cs_request([nickname]), "hour", 0), "nickname") with data.governance.access.roles as roles
	allowed(with_context(cs_request([nickname]), "hour", 5), "nickname") with data.governance.access.roles as roles
	req := with_context(cs_request([nickname]), "hour", 6)
	denied_only_for(req, "nickname", ["outside_allowed_hours"]) with data.governance.access.roles as roles
	denied_only_for(with_context(cs_request([nickname]), "hour", 12), "nickname", ["outside_allowed_hours"]) with data.governance.access.roles as roles
}

test_overnight_hours_start_at_their_first_hour if {
	roles := night_shift
	allowed(with_context(cs_request([nickname]), "hour", 22), "nickname") with data.governance.access.roles as roles
	denied_only_for(with_context(cs_request([nickname]), "hour", 21), "nickname", ["outside_allowed_hours"]) with data.governance.access.roles as roles
}

test_deny_hour_outside_the_clock_even_overnight if {
	roles := night_shift
	denied_only_for(with_context(cs_request([nickname]), "hour", 24), "nickname", ["outside_allowed_hours"]) with data.governance.access.roles as roles
	denied_only_for(with_context(cs_request([nickname]), "hour", -1), "nickname", ["outside_allowed_hours"]) with data.governance.access.roles as roles
}

test_hours_not_checked_for_services_and_partners if {
	allowed(with_context(push_request([city]), "hour", 3), "city")
	allowed(with_context(bank_request([order_total_12m]), "hour", 3), "order_total_12m")
}

# -- volume_above_limit and volume_above_flag_threshold ---------------------------------------

test_deny_operator_volume_above_limit if {
	req := with_context(cs_request([nickname]), "volume", 1001)
	denied_only_for(req, "nickname", ["volume_above_limit"])
	decide(req).flags == ["volume_above_flag_threshold"]
}

test_allow_operator_volume_at_limit_with_flag if {
	req := with_context(cs_request([nickname]), "volume", 1000)
	allowed(req, "nickname")
	decide(req).flags == ["volume_above_flag_threshold"]
}

test_flag_operator_volume_above_flag_threshold if {
	req := with_context(cs_request([nickname]), "volume", 201)
	allowed(req, "nickname")
	decide(req).flags == ["volume_above_flag_threshold"]
}

test_no_flag_at_flag_threshold if {
	decide(with_context(cs_request([nickname]), "volume", 200)).flags == []
}

test_service_volume_has_its_own_thresholds if {
	flagged := with_context(push_request([city]), "volume", 20001)
	allowed(flagged, "city")
	decide(flagged).flags == ["volume_above_flag_threshold"]
	denied_only_for(with_context(push_request([city]), "volume", 90001), "city", ["volume_above_limit"])
}

test_bulk_export_volume_has_its_own_thresholds if {
	bulk := with_context(push_request([city]), "bulk", true)
	allowed(with_context(bulk, "volume", 90001), "city")
	decide(with_context(bulk, "volume", 2000000)).flags == []
	decide(with_context(bulk, "volume", 2000001)).flags == ["volume_above_flag_threshold"]
	denied_only_for(with_context(bulk, "volume", 20000001), "city", ["volume_above_limit"])
}

test_deny_request_thresholds_unless_bulk_is_exactly_true if {
	not_bulk := with_context(push_request([city]), "bulk", "yes")
	denied_only_for(with_context(not_bulk, "volume", 90001), "city", ["volume_above_limit"])
}

test_partner_volume_has_its_own_thresholds if {
	decide(with_context(bank_request([order_total_12m]), "volume", 2000)).flags == []
	decide(with_context(bank_request([order_total_12m]), "volume", 2001)).flags == ["volume_above_flag_threshold"]
	req := with_context(bank_request([order_total_12m]), "volume", 10001)
	denied_only_for(req, "order_total_12m", ["volume_above_limit"])
}

test_missing_volume_counts_as_above_every_threshold if {
	req := with_context(cs_request([nickname]), "volume", null)
	denied_only_for(req, "nickname", ["volume_above_limit"])
	decide(req).flags == ["volume_above_flag_threshold"]
}

test_flags_do_not_need_fields if {
	decide(with_context(cs_request([]), "volume", 500)).flags == ["volume_above_flag_threshold"]
}

test_no_volume_rule_for_unknown_actor if {
	req := with_context(with_actor(cs_request([nickname]), "type", "robot"), "volume", 5000)
	reasons(req, "nickname") == ["unknown_actor"]
	decide(req).flags == []
}
