# Tests of the obligations of allowed fields: mask, redact, step-up. Fictional inputs; the
# builders (cs_request, push_request, with_actor, ...) are in access_test.rego.
package governance.access_test

import rego.v1

obligations(req, name) := decide(req).fields[name].obligations

mask_mobile := {"type": "mask", "style": "mobile"}

redact := {"type": "redact"}

step_up := {"type": "step_up", "within_minutes": 15}

# -- mask -------------------------------------------------------------------------------------

test_mask_mobile_for_operator if {
	obligations(cs_request([mobile]), "mobile") == [mask_mobile]
}

test_no_mask_for_role_allowed_to_see_unmasked if {
	# customer_service is in the email mask's unmasked_roles.
	obligations(cs_request([email]), "email") == []
}

test_mask_email_for_operator_without_unmasking_role if {
	masks := {"email": {"style": "email", "unmasked_roles": ["dpo"]}}
	obligations(cs_request([email]), "email") == [{"type": "mask", "style": "email"}] with data.governance.access.masks as masks
}

test_mask_style_comes_from_data if {
	masks := {"nickname": {"style": "id_number", "unmasked_roles": []}}
	obligations(cs_request([nickname]), "nickname") == [{"type": "mask", "style": "id_number"}] with data.governance.access.masks as masks
}

test_no_mask_for_field_outside_masks if {
	obligations(cs_request([nickname]), "nickname") == []
}

test_no_mask_for_services if {
	obligations(push_request([mobile]), "mobile") == []
}

test_no_mask_for_partners if {
	obligations(bank_request([bank_card_number]), "bank_card_number") == []
}

# -- redact -----------------------------------------------------------------------------------

test_redact_free_text_for_operator if {
	obligations(cs_request([service_notes]), "service_notes") == [redact]
}

test_redact_free_text_for_service if {
	obligations(push_request([chat_excerpt]), "chat_excerpt") == [redact]
}

test_redact_free_text_for_partner if {
	obligations(bank_request([service_notes]), "service_notes") == [redact]
}

test_no_redact_for_structured_field if {
	obligations(push_request([city]), "city") == []
}

test_redact_field_of_unknown_kind if {
	obligations(push_request([object.remove(city, ["free_text"])]), "city") == [redact]
}

# -- step_up ----------------------------------------------------------------------------------

test_step_up_core_field_without_second_factor if {
	req := with_actor(cs_request([mobile]), "mfa_age_minutes", null)
	obligations(req, "mobile") == [mask_mobile, step_up]
}

test_step_up_core_field_with_stale_second_factor if {
	req := with_actor(cs_request([mobile]), "mfa_age_minutes", 16)
	obligations(req, "mobile") == [mask_mobile, step_up]
}

test_no_step_up_with_second_factor_within_limit if {
	obligations(with_actor(cs_request([mobile]), "mfa_age_minutes", 15), "mobile") == [mask_mobile]
	obligations(with_actor(cs_request([mobile]), "mfa_age_minutes", 0), "mobile") == [mask_mobile]
}

test_step_up_sensitive_field if {
	roles := with_key(data.governance.access.roles, "customer_service", {
		"purposes": ["customer_service"],
		"classifications": ["sensitive"],
		"hours": [8, 22],
	})
	req := with_actor(with_purpose(cs_request([precise_location]), "separate_consent", true), "mfa_age_minutes", null)
	obligations(req, "precise_location") == [step_up] with data.governance.access.roles as roles
		with data.governance.access.legal_bases as {"contract": {"categories": ["location"]}}
}

test_no_step_up_for_internal_field if {
	req := with_actor(cs_request([nickname]), "mfa_age_minutes", null)
	obligations(req, "nickname") == []
}

test_step_up_bulk_export_of_any_field if {
	req := with_context(with_actor(cs_request([nickname]), "mfa_age_minutes", 60), "bulk", true)
	obligations(req, "nickname") == [step_up]
}

test_no_step_up_bulk_export_with_fresh_second_factor if {
	req := with_context(cs_request([nickname]), "bulk", true)
	obligations(req, "nickname") == []
}

test_step_up_when_bulk_unknown if {
	req := with_key(with_actor(cs_request([nickname]), "mfa_age_minutes", null), "context", object.remove(context, ["bulk"]))
	obligations(req, "nickname") == [step_up]
}

test_no_step_up_for_services if {
	req := with_context(push_request([mobile]), "bulk", true)
	obligations(req, "mobile") == []
}

test_no_step_up_for_partners if {
	req := with_context(bank_request([bank_card_number]), "bulk", true)
	obligations(req, "bank_card_number") == []
}

# -- all together -----------------------------------------------------------------------------

test_obligations_in_order_mask_redact_step_up if {
	masks := {"service_notes": {"style": "email", "unmasked_roles": []}}
	req := with_context(with_actor(cs_request([service_notes]), "mfa_age_minutes", null), "bulk", true)
	obligations(req, "service_notes") == [{"type": "mask", "style": "email"}, redact, step_up] with data.governance.access.masks as masks
}

test_denied_field_drops_its_obligations if {
	req := with_actor(cs_request([mobile, service_notes]), "roles", ["marketing"])
	decide(req).fields.mobile.obligations == []
	decide(req).fields.service_notes.obligations == []
}
