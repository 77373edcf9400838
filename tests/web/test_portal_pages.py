"""The portal's pages and forms, server-side: what they show and what each action records."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import func, select

from audit.models import CHECKPOINTS
from consent import receipts
from consent.models import ConsentEvent, ConsentState
from governance.profiles.models import Subject
from governance.requests.models import SubjectRequest
from tests.web.conftest import csrf_of, parse
from tests.web.helpers import (
    BEFORE_CHANGE,
    OLD_NOTICE,
    PROFILE,
    decide,
    new_customer,
    service_token,
)


def _states(within: Any, subject: str) -> dict[str, tuple[str, str | None]]:
    return dict(
        within(
            lambda db: {
                s.purpose: (s.status, s.tier)
                for s in db.scalars(select(ConsentState).where(ConsentState.subject_id == subject))
            }
        )
    )


def _events(within: Any, subject: str) -> list[ConsentEvent]:
    return list(
        within(
            lambda db: list(
                db.scalars(
                    select(ConsentEvent)
                    .where(ConsentEvent.subject_id == subject)
                    .order_by(ConsentEvent.id)
                )
            )
        )
    )


def _decide(client: Any, purpose: str, kind: str, tier: str | None = None) -> Any:
    token = csrf_of(client.get("/portal/purposes/ours").get_data(as_text=True))
    data = {"csrf_token": token, "purpose": purpose, "kind": kind}
    if tier:
        data["tier"] = tier
    return client.post("/portal/decisions", data=data)


def _flashes(client: Any, path: str) -> list[str]:
    return re.findall(r'class="flash (\w+)">([^<]*)<', client.get(path).get_data(as_text=True))


def _read(app: Flask, token: str, subject: str, purpose: str, fields: list[str]) -> int:
    resp = app.test_client().post(
        f"/api/v1/profiles/{subject}/read",
        json={"purpose": purpose, "fields": fields},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 200, resp.get_data(as_text=True)
    seq: int = resp.get_json()["audit_seq"]
    return seq


# -- access ----------------------------------------------------------------------------------


def test_portal_pages_need_a_customers_session(client: Any, as_dpo: Any) -> None:
    page = {"Accept": "text/html"}
    assert client.get("/portal/", headers=page).status_code == 401
    assert as_dpo.get("/portal/rights", headers=page).status_code == 403


# -- consent ---------------------------------------------------------------------------------


def test_grant_change_tier_and_withdraw_are_one_form_each(
    customer: str, portal_client: Any, within: Any
) -> None:
    client = portal_client(customer, "en")
    assert _decide(client, "personalised_recommendation", "grant", "behaviour").status_code == 303
    assert _states(within, customer) == {"personalised_recommendation": ("granted", "behaviour")}
    assert _flashes(client, "/portal/purposes/ours") == [
        ("success", "Saved: you agreed to “Personalised recommendations” at the Behaviour level.")
    ]
    _decide(client, "personalised_recommendation", "grant", "payment")
    assert _states(within, customer)["personalised_recommendation"] == ("granted", "payment")
    _decide(client, "personalised_recommendation", "withdraw")
    assert _states(within, customer)["personalised_recommendation"] == ("withdrawn", None)

    events = _events(within, customer)
    assert [(e.kind, e.tier, e.channel, e.acted_by) for e in events] == [
        ("grant", "behaviour", "portal", "subject"),
        ("grant", "payment", "portal", "subject"),
        ("withdraw", None, "portal", "subject"),
    ]
    assert all(e.receipt_id for e in events)  # each decision has its receipt
    assert events[0].notice_version == "2026-09" and events[0].evidence_sha256
    assert events[0].evidence_sha256 != events[1].evidence_sha256  # what was shown differs


def test_every_decision_form_names_one_purpose_and_separate_ones_stand_alone(
    customer: str, portal_client: Any, within: Any
) -> None:
    client = portal_client(customer)
    for group in ("ours", "sharing"):
        forms = parse(client.get(f"/portal/purposes/{group}").get_data(as_text=True)).forms
        decisions = [f for f in forms if f["action"] == "/portal/decisions"]
        assert decisions
        assert all(isinstance(f["fields"]["purpose"], str) for f in decisions)
    sharing = client.get("/portal/purposes/sharing").get_data(as_text=True)
    assert "Example Retail Singapore Pte. Ltd." in sharing and "新加坡" in sharing
    assert "Example Bank Co., Ltd." in sharing
    token = csrf_of(sharing)
    resp = client.post(
        "/portal/decisions",
        data={
            "csrf_token": token,
            "purpose": "cross_border_transfer",
            "kind": "grant",
            "tier": "basic",
        },
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(
        "/portal/purposes/sharing#p-cross_border_transfer"
    )
    assert _states(within, customer) == {"cross_border_transfer": ("granted", "basic")}


def test_refusing_an_optional_purpose_leaves_the_others_alone(
    customer: str, portal_client: Any, within: Any
) -> None:
    within(lambda db: decide(db, customer, "marketing_push"))
    client = portal_client(customer)
    _decide(client, "analytics", "refuse")
    _decide(client, "personalised_recommendation", "grant", "behaviour")
    assert _states(within, customer) == {
        "analytics": ("refused", None),
        "marketing_push": ("granted", "basic"),
        "personalised_recommendation": ("granted", "behaviour"),
    }


def test_refusals_of_the_rules_are_explained_and_write_nothing(
    app: Flask, customer: str, portal_client: Any, db_snapshot: Any, within: Any
) -> None:
    client = portal_client(customer, "en")
    before = db_snapshot()
    _decide(client, "personalised_recommendation", "grant", "basic")  # below its tier
    assert _flashes(client, "/portal/purposes/ours") == [("error", "Choose a level first.")]
    _decide(client, "customer_service", "grant", "basic")  # a contract: nothing to decide
    assert _flashes(client, "/portal/purposes/ours") == [
        ("error", "This use does not rest on your consent.")
    ]
    assert db_snapshot() == before

    minor = within(lambda db: new_customer(db, birth_year=dt.date.today().year - 10))
    young = portal_client(minor, "en")
    _decide(young, "analytics", "grant", "behaviour")
    flashes = _flashes(young, "/portal/purposes/ours")
    assert flashes and "under 14" in flashes[0][1]
    assert _states(within, minor) == {}


def test_the_contract_purpose_is_explained_without_a_choice(
    customer: str, portal_client: Any
) -> None:
    page = portal_client(customer, "en").get("/portal/purposes/service").get_data(as_text=True)
    assert "Customer service" in page and "no consent is asked" in page
    assert not [f for f in parse(page).forms if f["action"] == "/portal/decisions"]


def test_a_material_notice_change_asks_for_consent_again(
    customer: str, portal_client: Any, within: Any
) -> None:
    within(
        lambda db: decide(
            db,
            customer,
            "joint_modelling_partner_bank",
            tier="payment",
            notice=OLD_NOTICE,
            now=BEFORE_CHANGE,
        )
    )
    client = portal_client(customer, "en")
    home = client.get("/portal/").get_data(as_text=True)
    assert "Our privacy notice changed: please decide again" in home
    assert 'href="/portal/notices/2026-09"' in home
    sharing = client.get("/portal/purposes/sharing").get_data(as_text=True)
    assert "your earlier agreement no longer counts" in sharing

    token = csrf_of(sharing)
    client.post(
        "/portal/decisions",
        data={
            "csrf_token": token,
            "purpose": "joint_modelling_partner_bank",
            "kind": "grant",
            "tier": "payment",
        },
    )
    assert "please decide again" not in client.get("/portal/").get_data(as_text=True)
    assert _events(within, customer)[-1].notice_version == "2026-09"


def test_each_notice_version_can_be_read_in_either_language(
    customer: str, portal_client: Any
) -> None:
    client = portal_client(customer)
    listing = client.get("/portal/notices").get_data(as_text=True)
    assert "/portal/notices/2026-01" in listing and "/portal/notices/2026-09" in listing
    assert "重要变更" in client.get("/portal/notices/2026-09").get_data(as_text=True)
    english = client.get("/portal/notices/2026-09", headers={"Accept-Language": "en"})
    assert "important changes" in english.get_data(as_text=True)
    assert client.get("/portal/notices/1999-01", headers={"Accept": "text/html"}).status_code == 404


# -- who used my data ------------------------------------------------------------------------


def test_reads_of_my_data_are_listed_with_who_what_and_the_outcome(
    app: Flask, customer: str, portal_client: Any, within: Any
) -> None:
    within(lambda db: decide(db, customer, "personalised_recommendation", tier="behaviour"))
    token = within(
        lambda db: service_token(db, "recommendation-engine", ["personalised_recommendation"])
    )
    allowed = _read(app, token, customer, "personalised_recommendation", ["city", "nickname"])
    refused = _read(app, token, customer, "personalised_recommendation", ["bank_card_number"])
    page = portal_client(customer, "en").get("/portal/activity").get_data(as_text=True)
    ours = page[page.index(f'id="read-{allowed}"') :]
    assert "System: recommendation-engine" in ours and "City, Nickname" in ours
    theirs = page[page.index(f'id="read-{refused}"') : page.index(f'id="read-{allowed}"')]
    assert "Refused" in theirs and "Bank card number" in theirs
    assert "outside the level you chose" in theirs or "needs your separate agreement" in theirs
    assert page.index(f'id="read-{refused}"') < page.index(f'id="read-{allowed}"')  # newest first


def test_the_timeline_pages_back_and_lists_exports_that_included_me(
    app: Flask, customer: str, portal_client: Any, within: Any, monkeypatch: Any
) -> None:
    from governance.web import activity

    monkeypatch.setattr(activity, "PAGE_SIZE", 2)
    within(lambda db: decide(db, customer, "marketing_push"))
    token = within(lambda db: service_token(db, "crm", ["marketing_push"]))
    seqs = [_read(app, token, customer, "marketing_push", ["city"]) for _ in range(3)]
    from governance.auth import services

    def export_key(db: Any) -> str:
        new = services.create_api_key(
            db, "crm-campaigns", ["marketing_push"], ["profile:export"], {"marketing_push"}
        )
        db.commit()
        return new.token

    exporter = within(export_key)
    resp = app.test_client().post(
        "/api/v1/profiles/exports",
        json={"purpose": "marketing_push", "fields": ["city"]},
        headers={"Authorization": f"Bearer {exporter}"},
    )
    assert resp.status_code == 200 and customer in resp.get_data(as_text=True)

    client = portal_client(customer, "en")
    first = client.get("/portal/activity").get_data(as_text=True)
    assert f'id="read-{seqs[2]}"' in first and f'id="read-{seqs[1]}"' in first
    assert f'id="read-{seqs[0]}"' not in first
    assert "Bulk exports that included you" in first and "System: crm-campaigns" in first
    older = re.search(r'href="(/portal/activity\?before=\d+)"', first)
    assert older
    second = client.get(older.group(1)).get_data(as_text=True)
    assert f'id="read-{seqs[0]}"' in second and f'id="read-{seqs[2]}"' not in second


def test_verify_checks_a_read_against_a_signed_checkpoint(
    app: Flask, customer: str, portal_client: Any, within: Any
) -> None:
    within(lambda db: decide(db, customer, "marketing_push"))
    token = within(lambda db: service_token(db, "crm", ["marketing_push"]))
    seq = _read(app, token, customer, "marketing_push", ["city"])
    checkpoints = within(lambda db: db.scalar(select(func.count()).select_from(CHECKPOINTS)))
    client = portal_client(customer, "en")
    page = client.get("/portal/activity").get_data(as_text=True)
    resp = client.post(f"/portal/activity/{seq}/verify", data={"csrf_token": csrf_of(page)})
    body = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "Yes: verified." in body and body.count('class="pass"') == 4
    # No checkpoint covered the read yet: one was signed for it, and it is the one shown.
    assert within(lambda db: db.scalar(select(func.count()).select_from(CHECKPOINTS))) == (
        checkpoints + 1
    )
    assert f'href="/api/v1/audit/entries/{seq}/proof"' in body


def test_verify_says_so_when_the_signature_does_not_hold(
    app: Flask, customer: str, portal_client: Any, within: Any, monkeypatch: Any
) -> None:
    import audit

    within(lambda db: decide(db, customer, "marketing_push"))
    token = within(lambda db: service_token(db, "crm", ["marketing_push"]))
    seq = _read(app, token, customer, "marketing_push", ["city"])
    real_id = audit.get_signer(app).key_id
    impostor = Ed25519PrivateKey.generate().public_key()
    monkeypatch.setattr(audit, "public_keys", lambda _app=None: {real_id: impostor})
    client = portal_client(customer, "en")
    page = client.get("/portal/activity").get_data(as_text=True)
    body = client.post(
        f"/portal/activity/{seq}/verify", data={"csrf_token": csrf_of(page)}
    ).get_data(as_text=True)
    assert "No: the check failed." in body
    assert body.count('class="fail"') == 1 and body.count('class="pass"') == 3


# -- rights ----------------------------------------------------------------------------------


def test_download_my_data_files_an_access_request_and_links_the_copy(
    customer: str, portal_client: Any
) -> None:
    client = portal_client(customer, "en")
    page = client.get("/portal/rights").get_data(as_text=True)
    assert (
        client.post("/portal/rights/access", data={"csrf_token": csrf_of(page)}).status_code == 303
    )
    rights = client.get("/portal/rights").get_data(as_text=True)
    link = re.search(r'href="(/api/v1/subjects/[^"]+/export)" download', rights)
    assert link, "no download link"
    copy = client.get(link.group(1))
    assert copy.status_code == 200 and "attachment" in copy.headers["Content-Disposition"]
    assert copy.get_json()["values"]["nickname"] == PROFILE["nickname"]
    assert "Done" in rights and "Copy of my data" in rights


def test_a_correction_writes_what_i_state_and_queues_what_the_brand_keeps(
    customer: str, portal_client: Any, within: Any
) -> None:
    client = portal_client(customer, "en")
    page = client.get("/portal/rights/correction").get_data(as_text=True)
    assert 'name="value-nickname"' in page and 'value="store_visits"' in page
    assert 'name="value-store_visits"' not in page  # the brand's records: checked, not typed
    client.post(
        "/portal/rights/correction",
        data={
            "csrf_token": csrf_of(page),
            "value-city": "苏州",
            "value-birth_year": "1991",
            "review": ["store_visits", "nickname"],  # nickname is not the brand's: dropped
            "reason": "outdated",
        },
    )
    rows = within(
        lambda db: [
            (r.kind, r.status, r.details)
            for r in db.scalars(select(SubjectRequest).where(SubjectRequest.subject_id == customer))
        ]
    )
    assert rows == [
        (
            "correction",
            "open",
            {
                "reason": "outdated",
                "applied": ["birth_year", "city"],
                "masked": [],
                "review": ["store_visits"],
            },
        )
    ]
    birth_year = within(lambda db: db.get(Subject, customer).birth_year)
    assert birth_year == 1991
    rights = client.get("/portal/rights").get_data(as_text=True)
    assert "Due by" in rights and "Received" in rights


def test_a_correction_the_catalog_refuses_names_the_field_and_writes_nothing(
    customer: str, portal_client: Any, db_snapshot: Any
) -> None:
    client = portal_client(customer, "en")
    page = client.get("/portal/rights/correction").get_data(as_text=True)
    before = db_snapshot()
    resp = client.post(
        "/portal/rights/correction",
        data={"csrf_token": csrf_of(page), "value-birth_year": "nineteen ninety"},
    )
    assert resp.status_code == 303 and resp.headers["Location"].endswith(
        "/portal/rights/correction"
    )
    assert _flashes(client, "/portal/rights/correction") == [
        ("error", "These could not be accepted: Year of birth.")
    ]
    assert db_snapshot() == before


def test_erasure_needs_a_confirmation_then_waits_for_the_dpo(
    customer: str, portal_client: Any, within: Any
) -> None:
    client = portal_client(customer, "en")
    page = client.get("/portal/rights/erasure").get_data(as_text=True)
    assert "cannot be undone" in page and 'name="confirm"' in page
    client.post("/portal/rights/erasure", data={"csrf_token": csrf_of(page)})
    assert _flashes(client, "/portal/rights/erasure") == [
        ("error", "Tick the box to confirm that you understand, then send the request.")
    ]
    assert within(lambda db: db.scalar(select(func.count()).select_from(SubjectRequest))) == 0
    client.post(
        "/portal/rights/erasure",
        data={"csrf_token": csrf_of(page), "confirm": "yes", "reason": "no_longer_needed"},
    )
    rows = within(
        lambda db: [(r.kind, r.status, r.details) for r in db.scalars(select(SubjectRequest))]
    )
    assert rows == [("erasure", "open", {"reason": "no_longer_needed", "confirmed": True})]
    assert _flashes(client, "/portal/rights")[0][0] == "success"
    client.post("/portal/rights/erasure", data={"csrf_token": csrf_of(page), "confirm": "yes"})
    flashes = _flashes(client, "/portal/rights")
    assert flashes and "already have a request of this kind" in flashes[0][1]


def test_restriction_takes_effect_at_once_and_can_be_lifted(
    customer: str, portal_client: Any, within: Any
) -> None:
    client = portal_client(customer, "en")
    page = client.get("/portal/rights").get_data(as_text=True)
    client.post(
        "/portal/rights/restriction", data={"csrf_token": csrf_of(page), "action": "restrict"}
    )
    assert within(lambda db: db.get(Subject, customer).restricted_at) is not None
    home = client.get("/portal/").get_data(as_text=True)
    assert "You have restricted processing." in home
    client.post("/portal/rights/restriction", data={"csrf_token": csrf_of(home), "action": "lift"})
    assert within(lambda db: db.get(Subject, customer).restricted_at) is None


# -- receipts --------------------------------------------------------------------------------


def test_each_receipt_can_be_downloaded_and_verifies_offline(
    app: Flask, customer: str, portal_client: Any
) -> None:
    client = portal_client(customer, "en")
    _decide(client, "analytics", "grant", "behaviour")
    _decide(client, "analytics", "withdraw")
    page = client.get("/portal/receipts").get_data(as_text=True)
    links = re.findall(r'href="(/api/v1/consent/receipts/rcpt_[^"]+)"', page)
    assert len(links) == 2
    jwks = client.get("/.well-known/governance-consent-jwks.json").get_json()
    kinds = []
    for link in links:
        jws = client.get(link).get_data(as_text=True)
        payload = receipts.verify(jws, jwks)
        assert payload["piiPrincipalId"] == customer
        kinds.append(payload["event"])
    assert kinds == ["withdraw", "grant"]  # newest first
    assert "/.well-known/governance-consent-jwks.json" in page


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_renders_in_both_languages(customer: str, portal_client: Any, lang: str) -> None:
    client = portal_client(customer, lang)
    for path in (
        "/portal/",
        "/portal/purposes/ours",
        "/portal/purposes/sharing",
        "/portal/purposes/service",
        "/portal/notices",
        "/portal/notices/2026-01",
        "/portal/activity",
        "/portal/rights",
        "/portal/rights/correction",
        "/portal/rights/erasure",
        "/portal/receipts",
    ):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert f'<html lang="{ {"zh": "zh-CN", "en": "en"}[lang] }">' in resp.get_data(as_text=True)


def test_a_contract_purpose_lists_only_what_its_legal_basis_covers(
    customer: str, portal_client: Any
) -> None:
    page = portal_client(customer, "en").get("/portal/purposes/service").get_data(as_text=True)
    listed = page[page.index("Which data, at most") :]
    assert "Nickname" in listed and "Membership level" in listed and "Mobile number" in listed
    for outside in ("Year of birth", "City", "Gender"):  # demographic: not the contract's
        assert outside not in listed


def test_signing_out_ends_the_session_and_keeps_the_language(
    customer: str, portal_client: Any
) -> None:
    client = portal_client(customer, "en")
    page = client.get("/portal/").get_data(as_text=True)
    resp = client.post("/portal/logout", data={"csrf_token": csrf_of(page)})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/portal/bye")
    assert "You are signed out" in client.get("/portal/bye").get_data(as_text=True)
    assert client.get("/portal/", headers={"Accept": "text/html"}).status_code == 401
