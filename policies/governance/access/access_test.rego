# Tests of the field decisions: grants, legal basis, consent, separate consent, minors,
# art. 24 refusals, default deny and the shape of the decision. Every person, id and date
# here is invented. The inputs and fields below are shared with context_test.rego and
# obligations_test.rego (same package).
package governance.access_test

import rego.v1

# -- catalog fields (attributes as in consent/catalog/default.yaml) ---------------------------

mobile := {
	"name": "mobile", "category": "contact", "tier": "basic",
	"classification": "core", "pipl_sensitive": false, "free_text": false,
}

email := {
	"name": "email", "category": "contact", "tier": "basic",
	"classification": "core", "pipl_sensitive": false, "free_text": false,
}

nickname := {
	"name": "nickname", "category": "profile", "tier": "basic",
	"classification": "internal", "pipl_sensitive": false, "free_text": false,
}

city := {
	"name": "city", "category": "demographic", "tier": "basic",
	"classification": "internal", "pipl_sensitive": false, "free_text": false,
}

member_level := {
	"name": "member_level", "category": "membership", "tier": "basic",
	"classification": "internal", "pipl_sensitive": false, "free_text": false,
}

browse_history := {
	"name": "browse_history", "category": "behaviour", "tier": "behaviour",
	"classification": "internal", "pipl_sensitive": false, "free_text": false,
}

order_total_12m := {
	"name": "order_total_12m", "category": "transaction", "tier": "payment",
	"classification": "internal", "pipl_sensitive": false, "free_text": false,
}

bank_card_number := {
	"name": "bank_card_number", "category": "financial", "tier": "payment",
	"classification": "core", "pipl_sensitive": true, "free_text": false,
}

precise_location := {
	"name": "precise_location", "category": "location", "tier": "behaviour",
	"classification": "sensitive", "pipl_sensitive": true, "free_text": false,
}

service_notes := {
	"name": "service_notes", "category": "service", "tier": "basic",
	"classification": "internal", "pipl_sensitive": false, "free_text": true,
}

chat_excerpt := {
	"name": "chat_excerpt", "category": "service", "tier": "behaviour",
	"classification": "internal", "pipl_sensitive": false, "free_text": true,
}

# -- actors, purposes, consent, context -------------------------------------------------------

operator(roles) := {
	"type": "operator", "id": "op-1001", "roles": roles, "purposes": [],
	"agreement": null, "mfa_age_minutes": 3,
}

service(purposes) := {
	"type": "service", "id": "svc-push-01", "roles": [], "purposes": purposes,
	"agreement": null, "mfa_age_minutes": null,
}

partner(agreement) := {
	"type": "partner", "id": "ptn-0007", "roles": [], "purposes": [],
	"agreement": agreement, "mfa_age_minutes": null,
}

agreement := {
	"id": "agr-2026-001",
	"purposes": ["joint_modelling_partner_bank"],
	"categories": ["transaction", "financial", "profile", "service"],
	"valid_from": "2026-01-01",
	"valid_until": "2026-12-31",
	"approved": true,
}

customer_service := {"id": "customer_service", "legal_basis": "contract", "separate_consent": false}

marketing_push := {"id": "marketing_push", "legal_basis": "consent", "separate_consent": false}

analytics := {"id": "analytics", "legal_basis": "consent", "separate_consent": false}

personalised_recommendation := {
	"id": "personalised_recommendation",
	"legal_basis": "consent",
	"separate_consent": false,
}

joint_modelling := {"id": "joint_modelling_partner_bank", "legal_basis": "consent", "separate_consent": true}

consent(tier) := {"valid": true, "reason": "valid", "tier": tier, "by_guardian": false}

context := {"hour": 14, "volume": 120, "bulk": false, "today": "2026-11-25"}

request(actor, purpose, consent_state, fields) := {
	"actor": actor,
	"purpose": purpose,
	"consent": consent_state,
	"subject": {"minor": false, "restricted": false},
	"personalised_recommendation": true,
	"fields": fields,
	"context": context,
}

# A customer-service operator on a contract purpose: every rule passes for its fields.
cs_request(fields) := request(operator(["customer_service"]), customer_service, consent("basic"), fields)

# A push service on a consent purpose with a behaviour-tier consent.
push_request(fields) := request(service(["marketing_push"]), marketing_push, consent("behaviour"), fields)

# The partner bank, under its agreement, with a payment-tier separate consent.
bank_request(fields) := request(partner(agreement), joint_modelling, consent("payment"), fields)

# The object obj with obj[key] replaced by value (not merged into it, as object.union
# would merge two objects).
with_key(obj, key, value) := object.union(object.remove(obj, [key]), {key: value})

with_context(req, key, value) := with_key(req, "context", with_key(req.context, key, value))

with_actor(req, key, value) := with_key(req, "actor", with_key(req.actor, key, value))

with_consent(req, key, value) := with_key(req, "consent", with_key(req.consent, key, value))

with_purpose(req, key, value) := with_key(req, "purpose", with_key(req.purpose, key, value))

# The decision for the input `req`. Two regopy 1.5 traps shape it: `with input as <object>`
# aborts the process when the rules call built-in functions, so each top-level key is
# replaced on its own; and `with ... as <rule name>` is mis-evaluated, so every `with`
# value in these tests is a literal, a local variable or a function call. A key that `req`
# lacks becomes null, which the rules treat as missing (the tests of missing keys below
# leave them out for real).
decide(req) := d if {
	d := data.governance.access.decision with input.actor as object.get(req, "actor", null)
		with input.purpose as object.get(req, "purpose", null)
		with input.consent as object.get(req, "consent", null)
		with input.subject as object.get(req, "subject", null)
		with input.personalised_recommendation as object.get(req, "personalised_recommendation", null)
		with input.fields as object.get(req, "fields", null)
		with input.context as object.get(req, "context", null)
}

reasons(req, name) := decide(req).fields[name].reasons

allowed(req, name) if decide(req).fields[name].allow == true

denied_only_for(req, name, reasons_expected) if {
	d := decide(req).fields[name]
	d.allow == false
	d.reasons == reasons_expected
	d.obligations == []
}

# -- the decision's shape and default deny ----------------------------------------------------

test_allow_customer_service_reads_contract_fields if {
	d := decide(cs_request([nickname, member_level]))
	d.fields.nickname == {"allow": true, "reasons": [], "obligations": []}
	d.fields.member_level == {"allow": true, "reasons": [], "obligations": []}
	d.flags == []
}

test_decision_answers_every_field_asked if {
	d := decide(cs_request([nickname, browse_history, bank_card_number]))
	object.keys(d.fields) == {"nickname", "browse_history", "bank_card_number"}
}

test_decision_without_fields_answers_no_field if {
	decide(cs_request([])).fields == {}
	decide(with_key(cs_request([]), "fields", "mobile")).fields == {}
	req := cs_request([])
	d := data.governance.access.decision with input.actor as req.actor
		with input.purpose as req.purpose
		with input.context as req.context
	d == {"fields": {}, "flags": []}
}

test_deny_unknown_actor_type if {
	req := with_actor(cs_request([nickname]), "type", "robot")
	denied_only_for(req, "nickname", ["unknown_actor"])
}

test_deny_missing_actor if {
	req := cs_request([nickname])
	d := data.governance.access.decision with input.purpose as req.purpose
		with input.consent as req.consent
		with input.subject as req.subject
		with input.personalised_recommendation as req.personalised_recommendation
		with input.fields as req.fields
		with input.context as req.context
	d.fields.nickname == {"allow": false, "reasons": ["unknown_actor"], "obligations": []}
}

test_deny_null_actor if {
	denied_only_for(with_key(cs_request([nickname]), "actor", null), "nickname", ["unknown_actor"])
}

test_deny_subject_as_actor_for_an_ordinary_purpose if {
	req := with_actor(cs_request([nickname]), "type", "subject")
	denied_only_for(req, "nickname", ["classification_not_granted", "purpose_not_granted"])
}

# -- a customer's access to their own data (PIPL arts. 45, 50) and restriction (art. 44) ------

data_subject_access := {"id": "data_subject_access", "legal_basis": "legal_obligation", "separate_consent": false}

own_request(fields) := with_key(
	request({"type": "subject", "id": "sub_fictional"}, data_subject_access, null, fields),
	"subject", {"minor": false, "restricted": false, "self": true},
)

test_allow_subject_every_own_field_unmasked if {
	req := own_request([mobile, bank_card_number, precise_location, nickname])
	every name in ["mobile", "bank_card_number", "precise_location", "nickname"] {
		decide(req).fields[name] == {"allow": true, "reasons": [], "obligations": []}
	}
}

test_allow_subject_own_free_text_redacted if {
	decide(own_request([service_notes])).fields.service_notes.obligations == [{"type": "redact"}]
}

test_deny_subject_anothers_data if {
	req := with_key(own_request([nickname]), "subject", {"minor": false, "restricted": false, "self": false})
	theirs := ["classification_not_granted", "legal_basis_not_allowed", "purpose_not_granted"]
	denied_only_for(req, "nickname", theirs)
	no_self := with_key(own_request([nickname]), "subject", {"minor": false, "restricted": false})
	denied_only_for(no_self, "nickname", theirs)
}

test_deny_subject_access_purpose_to_others if {
	req := with_key(cs_request([nickname]), "purpose", data_subject_access)
	"purpose_not_granted" in reasons(req, "nickname")
}

test_deny_restricted_subject_to_everyone_else if {
	req := with_key(push_request([city]), "subject", {"minor": false, "restricted": true})
	denied_only_for(req, "city", ["processing_restricted"])
	unknown := with_key(push_request([city]), "subject", {"minor": false})
	denied_only_for(unknown, "city", ["processing_restricted"])
}

test_allow_restricted_subject_own_access if {
	req := with_key(own_request([nickname]), "subject", {"minor": false, "restricted": true, "self": true})
	allowed(req, "nickname")
}

test_reasons_are_sorted_and_unique if {
	req := with_consent(request(operator(["marketing"]), analytics, consent("basic"), [bank_card_number]), "valid", false)
	reasons(req, "bank_card_number") == [
		"classification_not_granted",
		"consent_invalid",
		"purpose_not_granted",
		"separate_consent_required",
		"tier_not_covered",
	]
}

test_denied_field_carries_no_obligations if {
	req := with_context(cs_request([mobile, service_notes]), "hour", 23)
	d := decide(req)
	d.fields.mobile == {"allow": false, "reasons": ["outside_allowed_hours"], "obligations": []}
	d.fields.service_notes.obligations == []
}

test_field_named_twice_gets_every_reason if {
	renamed := with_key(bank_card_number, "name", "nickname")
	d := decide(cs_request([nickname, renamed]))
	d.fields.nickname.allow == false
	d.fields.nickname.reasons == ["legal_basis_not_allowed", "separate_consent_required"]
	object.keys(d.fields) == {"nickname"}
}

test_field_named_twice_identically_is_decided_once if {
	d := decide(cs_request([nickname, nickname]))
	d.fields == {"nickname": {"allow": true, "reasons": [], "obligations": []}}
}

# -- purpose_not_granted ----------------------------------------------------------------------

test_deny_operator_whose_roles_do_not_grant_purpose if {
	req := request(operator(["marketing"]), customer_service, consent("basic"), [nickname])
	"purpose_not_granted" in reasons(req, "nickname")
}

test_deny_operator_with_unknown_role if {
	req := request(operator(["intern"]), customer_service, consent("basic"), [nickname])
	"purpose_not_granted" in reasons(req, "nickname")
}

test_deny_dpo_uses_no_data if {
	req := request(operator(["dpo"]), customer_service, consent("basic"), [nickname])
	"purpose_not_granted" in reasons(req, "nickname")
}

test_allow_operator_with_one_granting_role_among_others if {
	allowed(request(operator(["analyst", "customer_service"]), customer_service, consent("basic"), [nickname]), "nickname")
}

test_allow_service_purpose_in_key_scope if {
	allowed(push_request([city]), "city")
}

test_deny_service_purpose_outside_key_scope if {
	req := request(service(["analytics"]), marketing_push, consent("behaviour"), [city])
	denied_only_for(req, "city", ["purpose_not_granted"])
}

test_deny_service_without_scope if {
	req := request(with_key(service([]), "purposes", null), marketing_push, consent("behaviour"), [city])
	denied_only_for(req, "city", ["purpose_not_granted"])
}

test_deny_partner_purpose_outside_agreement if {
	req := with_purpose(bank_request([order_total_12m]), "id", "analytics")
	"purpose_not_granted" in reasons(req, "order_total_12m")
}

test_allow_partner_purpose_in_agreement if {
	allowed(bank_request([order_total_12m]), "order_total_12m")
}

# -- classification_not_granted ---------------------------------------------------------------

test_deny_operator_classification_not_granted if {
	req := request(operator(["marketing"]), marketing_push, consent("basic"), [mobile, city])
	denied_only_for(req, "mobile", ["classification_not_granted"])
	allowed(req, "city")
}

test_deny_classification_granted_only_by_a_role_without_the_purpose if {
	# customer_service grants core, but only marketing grants marketing_push.
	req := request(operator(["marketing", "customer_service"]), marketing_push, consent("basic"), [mobile])
	denied_only_for(req, "mobile", ["classification_not_granted"])
}

test_deny_operator_without_granting_role_gets_no_classification if {
	req := request(operator(["analyst"]), marketing_push, consent("basic"), [city])
	reasons(req, "city") == ["classification_not_granted", "purpose_not_granted"]
}

test_deny_service_classification_not_granted if {
	req := push_request([mobile, city])
	denied_only_for(req, "mobile", ["classification_not_granted"]) with data.governance.access.services as {"classifications": ["internal"]}
	allowed(req, "city") with data.governance.access.services as {"classifications": ["internal"]}
}

test_allow_service_core_classification if {
	allowed(push_request([mobile]), "mobile")
}

test_deny_partner_category_outside_agreement if {
	denied_only_for(bank_request([city]), "city", ["classification_not_granted"])
}

test_deny_partner_without_agreement if {
	req := request(partner(null), joint_modelling, consent("payment"), [order_total_12m])
	reasons(req, "order_total_12m") == ["agreement_expired", "classification_not_granted", "purpose_not_granted"]
}

# -- legal_basis_not_allowed ------------------------------------------------------------------

test_deny_unknown_legal_basis if {
	req := with_purpose(cs_request([nickname]), "legal_basis", "legitimate_interest")
	denied_only_for(req, "nickname", ["legal_basis_not_allowed"])
}

test_deny_missing_legal_basis if {
	req := with_key(cs_request([nickname]), "purpose", {"id": "customer_service"})
	"legal_basis_not_allowed" in reasons(req, "nickname")
}

test_deny_contract_basis_outside_its_categories if {
	req := cs_request([nickname, browse_history])
	denied_only_for(req, "browse_history", ["legal_basis_not_allowed"])
	allowed(req, "nickname")
}

test_allow_legal_obligation_basis_in_its_categories if {
	req := with_purpose(cs_request([order_total_12m, nickname]), "legal_basis", "legal_obligation")
	allowed(req, "order_total_12m")
	denied_only_for(req, "nickname", ["legal_basis_not_allowed"])
}

test_allow_consent_basis_for_any_category if {
	req := push_request([city, browse_history])
	allowed(req, "city")
	allowed(req, "browse_history")
}

# -- consent_invalid and tier_not_covered -----------------------------------------------------

test_deny_invalid_consent if {
	req := with_consent(push_request([city]), "valid", false)
	denied_only_for(req, "city", ["consent_invalid"])
}

test_deny_consent_without_validity if {
	req := with_key(push_request([city]), "consent", {"tier": "behaviour"})
	"consent_invalid" in reasons(req, "city")
	not "tier_not_covered" in reasons(req, "city")
}

test_allow_contract_basis_needs_no_consent if {
	req := with_key(cs_request([nickname]), "consent", {"valid": false, "reason": "no_consent", "tier": null, "by_guardian": false})
	allowed(req, "nickname")
}

test_deny_tier_not_covered if {
	req := with_consent(push_request([city, browse_history]), "tier", "basic")
	denied_only_for(req, "browse_history", ["tier_not_covered"])
	allowed(req, "city")
}

test_allow_higher_tier_covers_lower_tiers if {
	req := with_consent(push_request([city, browse_history]), "tier", "payment")
	allowed(req, "city")
	allowed(req, "browse_history")
}

test_deny_payment_field_under_behaviour_consent if {
	req := push_request([order_total_12m])
	denied_only_for(req, "order_total_12m", ["tier_not_covered"])
}

test_deny_consent_without_tier if {
	req := with_consent(push_request([city]), "tier", null)
	denied_only_for(req, "city", ["tier_not_covered"])
}

test_deny_unknown_field_tier if {
	req := push_request([with_key(city, "tier", "platinum")])
	denied_only_for(req, "city", ["tier_not_covered"])
}

# -- separate_consent_required ----------------------------------------------------------------

test_deny_sensitive_field_for_ordinary_purpose if {
	d := decide(push_request([precise_location])) with data.governance.access.services as {"classifications": ["sensitive"]}
	d.fields.precise_location == {"allow": false, "reasons": ["separate_consent_required"], "obligations": []}
}

test_allow_sensitive_field_for_separate_consent_purpose if {
	allowed(bank_request([bank_card_number]), "bank_card_number")
}

test_field_of_unknown_sensitivity_counts_as_sensitive if {
	req := bank_request([object.remove(order_total_12m, ["pipl_sensitive"])])
	allowed(req, "order_total_12m")
	req2 := with_purpose(push_request([object.remove(city, ["pipl_sensitive"])]), "separate_consent", false)
	denied_only_for(req2, "city", ["separate_consent_required"])
}

test_deny_sensitive_field_under_contract if {
	req := cs_request([bank_card_number])
	"separate_consent_required" in reasons(req, "bank_card_number")
}

# -- guardian_required ------------------------------------------------------------------------

test_deny_minor_without_guardian_consent if {
	req := with_key(push_request([city]), "subject", {"minor": true, "restricted": false})
	denied_only_for(req, "city", ["guardian_required"])
	denied_only_for(with_consent(req, "by_guardian", null), "city", ["guardian_required"])
}

test_allow_minor_with_guardian_consent if {
	req := with_consent(with_key(push_request([city]), "subject", {"minor": true, "restricted": false}), "by_guardian", true)
	allowed(req, "city")
}

test_deny_subject_of_unknown_age_without_guardian if {
	req := with_key(push_request([city]), "subject", {"restricted": false})
	denied_only_for(req, "city", ["guardian_required"])
}

test_allow_minor_under_contract_without_guardian if {
	req := with_key(cs_request([nickname]), "subject", {"minor": true, "restricted": false})
	allowed(req, "nickname")
}

# -- personalisation_refused ------------------------------------------------------------------

recommendation_request(fields) := request(
	service(["personalised_recommendation"]),
	personalised_recommendation,
	consent("behaviour"),
	fields,
)

test_deny_personal_field_when_personalisation_refused if {
	req := with_key(recommendation_request([browse_history, member_level]), "personalised_recommendation", false)
	denied_only_for(req, "browse_history", ["personalisation_refused"])
}

test_allow_non_personal_category_when_personalisation_refused if {
	req := with_key(recommendation_request([browse_history, member_level]), "personalised_recommendation", false)
	allowed(req, "member_level")
}

test_allow_personalisation_accepted if {
	allowed(recommendation_request([browse_history]), "browse_history")
}

test_deny_personalisation_of_unknown_choice if {
	req := recommendation_request([browse_history])
	d := data.governance.access.decision with input.actor as req.actor
		with input.purpose as req.purpose
		with input.consent as req.consent
		with input.subject as req.subject
		with input.fields as req.fields
		with input.context as req.context
	d.fields.browse_history == {"allow": false, "reasons": ["personalisation_refused"], "obligations": []}
}

test_personalisation_refusal_concerns_only_its_purpose if {
	req := with_key(push_request([browse_history]), "personalised_recommendation", false)
	allowed(req, "browse_history")
}
