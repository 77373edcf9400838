"""Consent receipts: what they say, that any change breaks them, and the key that signs them."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.testing import FlaskClient

import audit
from audit.checkpoint import key_id as audit_key_id
from audit.pii import find_pii, simple_detector
from consent import receipts
from consent.catalog.models import CatalogField, Purpose
from consent.catalog.schema import SEPARATE_CONSENT_REASONS
from consent.models import ConsentEvent
from consent.receipts import InvalidReceipt, ReceiptSigner, issue, verify
from governance import create_app
from governance.keys import KeyError_, KeyPaths

SUBJECT = "sub_ReceiptTestSubject0001"  # fictional opaque id: sub_ and 22 characters
RECEIPT_ID = "rcpt_FixedReceiptIdForTest1"
CONTROLLER = "Example Retail"
JWKS_PATH = "/.well-known/governance-consent-jwks.json"
OCCURRED = dt.datetime(2026, 11, 25, 10, 0, 0, tzinfo=dt.UTC)
VALID_UNTIL = dt.datetime(2027, 11, 25, 10, 0, 0, tzinfo=dt.UTC)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _field(name: str, category: str, tier: str) -> CatalogField:
    return CatalogField(name=name, category=category, tier=tier)


#: A small field catalog: two categories per tier, one of them sensitive (location).
FIELDS = [
    _field("mobile", "contact", "basic"),
    _field("nickname", "profile", "basic"),
    _field("page_views", "behaviour", "behaviour"),
    _field("precise_location", "location", "behaviour"),
    _field("spend_12m", "transaction", "payment"),
    _field("bank_card_number", "financial", "payment"),
]


def _purpose(**overrides: Any) -> Purpose:
    values: dict[str, Any] = {
        "id": "personalised_recommendation",
        "legal_basis": "consent",
        "required_tier": "behaviour",
        "separate_consent": False,
        "separate_consent_reason": None,
        "optional": True,
        "recipient": None,
        "recipient_country": None,
        "name_zh": "个性化推荐",
        "name_en": "Personalised recommendations",
        "explanation_zh": "虚构的说明。",
        "explanation_en": "A fictional explanation.",
        "catalog_version": "2026.11.1",
    }
    return Purpose(**(values | overrides))


def _event(**overrides: Any) -> ConsentEvent:
    values: dict[str, Any] = {
        "subject_id": SUBJECT,
        "purpose": "personalised_recommendation",
        "kind": "grant",
        "tier": "behaviour",
        "notice_version": "2026-09",
        "notice_date": dt.date(2026, 9, 1),
        "channel": "mini_program",
        "acted_by": "subject",
        "actor_id": SUBJECT,
        "evidence_sha256": hashlib.sha256(b"fictional notice and choices").hexdigest(),
        "valid_until": VALID_UNTIL,
        "occurred_at": OCCURRED,
    }
    return ConsentEvent(**(values | overrides))


@pytest.fixture
def signer() -> ReceiptSigner:
    return ReceiptSigner.from_key(Ed25519PrivateKey.generate())


def _issued(signer: ReceiptSigner, event: ConsentEvent | None = None, **kwargs: Any) -> str:
    event = event if event is not None else _event()
    purpose = kwargs.pop("purpose", None) or _purpose(id=event.purpose)
    kwargs.setdefault("catalog_fields", FIELDS)
    issue(event, purpose, signer=signer, controller=CONTROLLER, **kwargs)
    assert event.receipt_jws is not None
    return event.receipt_jws


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segments(jws: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = jws.split(".")
    return json.loads(_unb64(header)), json.loads(_unb64(payload)), signature


def _compact(header: dict[str, Any] | bytes, payload: bytes, key: Ed25519PrivateKey) -> str:
    """A JWS signed by ``key`` with any header: what a forger with a key could make."""
    raw_header = header if isinstance(header, bytes) else json.dumps(header).encode()
    signing_input = f"{_b64(raw_header)}.{_b64(payload)}"
    return f"{signing_input}.{_b64(key.sign(signing_input.encode()))}"


def _refused(jws: str, jwks: dict[str, Any], match: str | None = None) -> None:
    with pytest.raises(InvalidReceipt, match=match):
        verify(jws, jwks)


# -- verifying with the published key set ---------------------------------------------------------


def test_a_receipt_verifies_with_the_jwks_from_the_public_endpoint(
    app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        jws = _issued(receipts.get_signer())
    resp = client.get(JWKS_PATH)  # no credentials
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "public, max-age=3600"
    key_set = resp.get_json()
    payload = verify(jws, key_set)
    assert payload["consentReceiptID"].startswith("rcpt_")
    assert payload["piiPrincipalId"] == SUBJECT


def test_a_receipt_from_the_api_verifies_and_matches_the_decision(
    app: Flask, client: FlaskClient, ledger_db: Any, make_subject: Any, as_subject: Any
) -> None:
    subject = make_subject(7)
    me = as_subject(subject)
    decision = {
        "kind": "grant",
        "purposes": ["personalised_recommendation"],
        "tier": "behaviour",
        "notice_version": "2026-09",
        "channel": "portal",
        "evidence_sha256": hashlib.sha256(b"fictional notice and choices").hexdigest(),
    }
    made = me.post(f"/api/v1/consent/subjects/{subject}/decisions", json=decision)
    assert made.status_code == 201, made.get_json()
    (event,) = made.get_json()["events"]
    jws = me.get(f"/api/v1/consent/receipts/{event['receipt_id']}").get_data(as_text=True)

    claims = verify(jws, client.get(JWKS_PATH).get_json())
    (purpose,) = claims["services"][0]["purposes"]
    assert (claims["consentReceiptID"], claims["piiPrincipalId"]) == (event["receipt_id"], subject)
    assert claims["piiControllers"] == [{"piiController": app.config["CONTROLLER_NAME"]}]
    assert (purpose["purposeId"], purpose["tier"]) == ("personalised_recommendation", "behaviour")
    # the default catalog's categories of basic and behaviour fields, none of payment
    assert {"contact", "behaviour", "location"} <= set(purpose["piiCategory"])
    assert not {"transaction", "financial"} & set(purpose["piiCategory"])


def test_the_jwks_holds_one_okp_public_key_and_nothing_private(
    app: Flask, client: FlaskClient
) -> None:
    (jwk,) = client.get(JWKS_PATH).get_json()["keys"]
    assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
    with app.app_context():
        public = receipts.get_signer().key.public_key()
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert jwk["x"] == _b64(raw)
    assert jwk["kid"] == audit_key_id(public) == hashlib.sha256(raw).hexdigest()[:16]


def test_the_jwks_endpoint_is_documented_as_public(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    operation = spec["paths"][JWKS_PATH]["get"]
    assert operation["security"] == []
    assert "200" in operation["responses"]


def test_a_receipt_verifies_offline_with_a_plain_key_set(signer: ReceiptSigner) -> None:
    jws = _issued(signer)
    payload = verify(jws, json.loads(json.dumps({"keys": [signer.public_jwk()]})))
    assert payload == _segments(jws)[1]


def test_the_header_names_the_algorithm_key_and_type(signer: ReceiptSigner) -> None:
    header, _payload, _signature = _segments(_issued(signer))
    assert header == {"alg": "EdDSA", "kid": signer.kid, "typ": "consent-receipt+jwt"}


def test_the_public_jwk_matches_rfc_8037() -> None:
    # RFC 8037 appendix A.1 and A.2: the private key d and its public key x.
    d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
    signer = ReceiptSigner.from_key(Ed25519PrivateKey.from_private_bytes(_unb64(d)))
    assert signer.public_jwk()["x"] == "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"


# -- any change fails -----------------------------------------------------------------------------


def test_changing_any_character_of_any_segment_fails(signer: ReceiptSigner) -> None:
    jws = _issued(signer)
    jwks = {"keys": [signer.public_jwk()]}
    verify(jws, jwks)
    changed = 0
    for i, char in enumerate(jws):
        if char == ".":
            continue
        for other in ("A" if char != "A" else "B", "_" if char != "_" else "-"):
            _refused(jws[:i] + other + jws[i + 1 :], jwks)
            changed += 1
    assert changed > 2 * 1000  # every position of all three segments was tried


@pytest.mark.parametrize("segment", [0, 1, 2])
def test_padding_whitespace_or_a_dropped_character_fails(
    signer: ReceiptSigner, segment: int
) -> None:
    jws = _issued(signer)
    jwks = {"keys": [signer.public_jwk()]}
    parts = jws.split(".")
    for variant in (parts[segment] + "=", parts[segment] + " ", parts[segment][:-1]):
        changed = list(parts)
        changed[segment] = variant
        _refused(".".join(changed), jwks)
    _refused(jws + "\n", jwks)
    _refused(jws + ".", jwks)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("piiPrincipalId",), "sub_SomeoneElseEntirely001"),
        (("event",), "withdraw"),
        (("consentTimestamp",), 1767225600),
        (("noticeVersion",), "2026-01"),
        (("services", 0, "purposes", 0, "tier"), "payment"),
        (("services", 0, "purposes", 0, "piiCategory"), ["contact"]),
        (("services", 0, "purposes", 0, "thirdPartyName"), "Example Broker Ltd."),
        (("services", 0, "purposes", 0, "termination"), "2099-01-01T00:00:00Z"),
    ],
)
def test_a_changed_payload_with_the_original_signature_fails(
    signer: ReceiptSigner, path: tuple[Any, ...], value: Any
) -> None:
    jws = _issued(signer)
    header, payload, signature = jws.split(".")
    claims = json.loads(_unb64(payload))
    target = claims
    for step in path[:-1]:
        target = target[step]
    assert target[path[-1]] != value
    target[path[-1]] = value
    forged = _b64(json.dumps(claims, ensure_ascii=False, sort_keys=True).encode())
    _refused(f"{header}.{forged}.{signature}", {"keys": [signer.public_jwk()]}, "signature")


def test_the_same_payload_re_encoded_differently_fails(signer: ReceiptSigner) -> None:
    jws = _issued(signer)
    header, payload, signature = jws.split(".")
    spaced = json.dumps(json.loads(_unb64(payload)), indent=1).encode()
    _refused(f"{header}.{_b64(spaced)}.{signature}", {"keys": [signer.public_jwk()]}, "signature")


def test_swapping_the_kid_fails(signer: ReceiptSigner) -> None:
    other = ReceiptSigner.from_key(Ed25519PrivateKey.generate())
    both = {"keys": [signer.public_jwk(), other.public_jwk()]}
    jws = _issued(signer)
    _header, payload, signature = jws.split(".")
    for kid in (other.kid, "0000000000000000", ""):
        header = {"alg": "EdDSA", "kid": kid, "typ": "consent-receipt+jwt"}
        swapped = f"{_b64(json.dumps(header).encode())}.{payload}.{signature}"
        _refused(swapped, both)


def test_a_receipt_signed_by_another_key_fails(signer: ReceiptSigner) -> None:
    mine = {"keys": [signer.public_jwk()]}
    stranger = ReceiptSigner.from_key(Ed25519PrivateKey.generate())
    _refused(_issued(stranger), mine, "no key with kid")
    # ... and claiming our key id does not help
    payload = _unb64(_issued(signer).split(".")[1])
    header = {"alg": "EdDSA", "kid": signer.kid, "typ": "consent-receipt+jwt"}
    _refused(_compact(header, payload, stranger.key), mine, "signature")


def test_alg_none_is_refused(signer: ReceiptSigner) -> None:
    jwks = {"keys": [signer.public_jwk()]}
    _header, payload, signature = _issued(signer).split(".")
    for alg in ("none", "None", "NONE"):
        header = _b64(json.dumps({"alg": alg, "kid": signer.kid, "typ": receipts.TYP}).encode())
        _refused(f"{header}.{payload}.", jwks, "alg")
        _refused(f"{header}.{payload}.{signature}", jwks, "alg")


def test_hs256_keyed_with_the_public_key_is_refused(signer: ReceiptSigner) -> None:
    jwk = signer.public_jwk()
    jwks = {"keys": [jwk]}
    payload = _issued(signer).split(".")[1]
    header = _b64(json.dumps({"alg": "HS256", "kid": signer.kid, "typ": receipts.TYP}).encode())
    signing_input = f"{header}.{payload}".encode()
    # Every form a confused verifier might take as the HMAC secret.
    for secret in (_unb64(jwk["x"]), jwk["x"].encode(), json.dumps(jwk).encode()):
        mac = _b64(hmac.new(secret, signing_input, hashlib.sha256).digest())
        _refused(f"{header}.{payload}.{mac}", jwks, "alg")


def test_a_validly_signed_token_with_other_header_parameters_is_refused(
    signer: ReceiptSigner,
) -> None:
    jwks = {"keys": [signer.public_jwk()]}
    payload = _unb64(_issued(signer).split(".")[1])
    base = {"alg": "EdDSA", "kid": signer.kid, "typ": receipts.TYP}
    for extra in (
        {"b64": False, "crit": ["b64"]},
        {"jwk": signer.public_jwk()},
        {"jku": "https://keys.example.com/jwks.json"},
    ):
        _refused(_compact(base | extra, payload, signer.key), jwks, "header")
    _refused(_compact(base | {"typ": "JWT"}, payload, signer.key), jwks, "typ")
    verify(_compact(base, payload, signer.key), jwks)  # the same, without extras, verifies


def test_duplicate_json_members_are_refused_even_when_signed(signer: ReceiptSigner) -> None:
    # Parsers disagree on which duplicate wins; a receipt must read the same everywhere.
    jwks = {"keys": [signer.public_jwk()]}
    good_header = json.dumps({"alg": "EdDSA", "kid": signer.kid, "typ": receipts.TYP}).encode()
    twice_kid = good_header[:-1] + b', "kid": "0000000000000000"}'
    _refused(_compact(twice_kid, b"{}", signer.key), jwks, "duplicate")
    two_subjects = b'{"piiPrincipalId": "%s", "piiPrincipalId": "%s"}' % (
        SUBJECT.encode(),
        b"sub_SomeoneElseEntirely001",
    )
    _refused(_compact(good_header, two_subjects, signer.key), jwks, "duplicate")
    assert verify(_compact(good_header, b"{}", signer.key), jwks) == {}


@pytest.mark.parametrize(
    "jws",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d",
        "é.b.c",
        _b64(b"not json") + ".e30.AA",
        _b64(b"[]") + ".e30.AA",
        _b64(b'{"alg":"EdDSA","alg":"EdDSA"}') + ".e30.AA",
    ],
)
def test_malformed_receipts_are_invalid(signer: ReceiptSigner, jws: str) -> None:
    with pytest.raises(ValueError):  # InvalidReceipt is a ValueError
        verify(jws, {"keys": [signer.public_jwk()]})
    _refused(jws, {"keys": [signer.public_jwk()]})


@pytest.mark.parametrize(
    "change",
    [
        {"crv": "Ed448"},
        {"kty": "EC"},
        {"alg": "ES256"},
        {"use": "enc"},
        {"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHUR"},
        {"x": 42},
    ],
)
def test_an_unusable_key_in_the_set_is_refused(signer: ReceiptSigner, change: Any) -> None:
    jws = _issued(signer)
    _refused(jws, {"keys": [signer.public_jwk() | change]})


def test_a_key_set_without_keys_or_with_two_keys_of_one_kid_is_refused(
    signer: ReceiptSigner,
) -> None:
    jws = _issued(signer)
    for bad in ({}, {"keys": {}}, {"keys": [signer.public_jwk(), signer.public_jwk()]}):
        _refused(jws, bad)


# -- what a receipt says --------------------------------------------------------------------------


def test_a_grant_receipt_holds_the_consent_receipt_fields(signer: ReceiptSigner) -> None:
    jws = _issued(signer, receipt_id=RECEIPT_ID)
    assert verify(jws, {"keys": [signer.public_jwk()]}) == {
        "version": "KI-CR-v1.1.0",
        "jurisdiction": "CN",
        "consentTimestamp": 1795600800,  # 2026-11-25T10:00:00Z
        "collectionMethod": "mini_program",
        "consentReceiptID": RECEIPT_ID,
        "language": "zh-CN",
        "piiPrincipalId": SUBJECT,
        "piiControllers": [{"piiController": "Example Retail"}],
        "noticeVersion": "2026-09",
        "event": "grant",
        "actedBy": "subject",
        "services": [
            {
                "service": "Example Retail",
                "purposes": [
                    {
                        "purposeId": "personalised_recommendation",
                        "purpose": "Personalised recommendations",
                        "purposeNames": {
                            "en": "Personalised recommendations",
                            "zh-CN": "个性化推荐",
                        },
                        "legalBasis": "consent",
                        "consentType": "EXPLICIT",
                        "primaryPurpose": False,
                        "tier": "behaviour",
                        "piiCategory": ["behaviour", "contact", "location", "profile"],
                        "termination": "2027-11-25T10:00:00Z",
                        "separateConsentReason": None,
                        "thirdPartyDisclosure": False,
                        "thirdPartyName": None,
                        "thirdPartyCountry": None,
                    }
                ],
            }
        ],
        "sensitive": False,
    }


def test_a_withdrawal_receipt_covers_every_category_and_has_no_tier(
    signer: ReceiptSigner,
) -> None:
    event = _event(kind="withdraw", tier=None, notice_version=None, valid_until=None)
    claims = verify(_issued(signer, event), {"keys": [signer.public_jwk()]})
    (purpose,) = claims["services"][0]["purposes"]
    assert claims["event"] == "withdraw"
    assert (purpose["tier"], purpose["termination"], claims["noticeVersion"]) == (None, None, None)
    assert purpose["piiCategory"] == sorted({f.category for f in FIELDS})


@pytest.mark.parametrize(
    ("tier", "categories"),
    [
        ("basic", ["contact", "profile"]),
        ("behaviour", ["behaviour", "contact", "location", "profile"]),
        ("payment", ["behaviour", "contact", "financial", "location", "profile", "transaction"]),
    ],
)
def test_pi_categories_are_those_the_granted_tier_covers(
    signer: ReceiptSigner, tier: str, categories: list[str]
) -> None:
    claims = verify(_issued(signer, _event(tier=tier)), {"keys": [signer.public_jwk()]})
    assert claims["services"][0]["purposes"][0]["piiCategory"] == categories


def test_third_parties_and_the_country_they_are_in_are_named(signer: ReceiptSigner) -> None:
    purpose = _purpose(
        id="cross_border_transfer",
        separate_consent=True,
        separate_consent_reason="cross_border",
        recipient="Example Retail Singapore Pte. Ltd.",
        recipient_country="SG",
    )
    event = _event(purpose="cross_border_transfer", acted_by="guardian", channel="store")
    claims = verify(_issued(signer, event, purpose=purpose), {"keys": [signer.public_jwk()]})
    (entry,) = claims["services"][0]["purposes"]
    assert entry["thirdPartyDisclosure"] is True
    assert (entry["thirdPartyName"], entry["thirdPartyCountry"]) == (
        "Example Retail Singapore Pte. Ltd.",
        "SG",
    )
    assert entry["separateConsentReason"] == "cross_border"
    assert (claims["actedBy"], claims["collectionMethod"]) == ("guardian", "store")
    assert claims["sensitive"] is False


def test_a_sensitive_pi_purpose_is_marked_sensitive(signer: ReceiptSigner) -> None:
    assert receipts.SENSITIVE_REASON in SEPARATE_CONSENT_REASONS  # the catalog's own name
    purpose = _purpose(separate_consent=True, separate_consent_reason="sensitive_pi")
    claims = verify(_issued(signer, purpose=purpose), {"keys": [signer.public_jwk()]})
    assert claims["sensitive"] is True


def test_a_non_optional_purpose_is_primary(signer: ReceiptSigner) -> None:
    purpose = _purpose(id="customer_service", legal_basis="contract", optional=False)
    claims = verify(
        _issued(signer, _event(purpose="customer_service"), purpose=purpose),
        {"keys": [signer.public_jwk()]},
    )
    assert claims["services"][0]["purposes"][0]["primaryPurpose"] is True


def test_the_language_is_the_callers(signer: ReceiptSigner) -> None:
    claims = verify(_issued(signer, language="en"), {"keys": [signer.public_jwk()]})
    assert claims["language"] == "en"


def test_a_receipt_holds_no_phone_or_email(signer: ReceiptSigner) -> None:
    jws = _issued(signer)
    claims = verify(jws, {"keys": [signer.public_jwk()]})
    assert find_pii(claims, simple_detector) == []
    text = json.dumps(claims, ensure_ascii=False)
    assert "@" not in text
    assert claims["piiPrincipalId"] == SUBJECT


@pytest.mark.parametrize("value", ["13800138000", "lin.wei@example.com", "sub_short", ""])
def test_a_subject_named_by_a_value_gets_no_receipt(signer: ReceiptSigner, value: str) -> None:
    event = _event(subject_id=value)
    with pytest.raises(ValueError, match="opaque id"):
        _issued(signer, event)
    assert (event.receipt_id, event.receipt_jws) == (None, None)


@pytest.mark.parametrize("kind", ["refuse", "expire", "reconsent_required"])
def test_only_grants_and_withdrawals_get_receipts(signer: ReceiptSigner, kind: str) -> None:
    event = _event(kind=kind)
    with pytest.raises(ValueError, match="no receipt"):
        _issued(signer, event)
    assert (event.receipt_id, event.receipt_jws) == (None, None)


def test_an_event_keeps_its_first_receipt(signer: ReceiptSigner) -> None:
    event = _event()
    first = _issued(signer, event)
    with pytest.raises(ValueError, match="already has a receipt"):
        _issued(signer, event)
    assert event.receipt_jws == first


def test_a_grant_without_a_tier_or_a_mismatched_purpose_gets_no_receipt(
    signer: ReceiptSigner,
) -> None:
    with pytest.raises(ValueError, match="tier"):
        _issued(signer, _event(tier=None))
    with pytest.raises(ValueError, match="differ"):
        _issued(signer, _event(), purpose=_purpose(id="marketing_push"))


# -- ids and determinism -------------------------------------------------------------------------


def test_receipt_ids_are_random_and_opaque(signer: ReceiptSigner) -> None:
    events = [_event() for _ in range(50)]
    for event in events:
        _issued(signer, event)
    ids = {event.receipt_id or "" for event in events}
    assert len(ids) == 50
    for rid in ids:
        assert rid.startswith("rcpt_")
        assert len(rid) == 27
        assert set(rid[5:]) <= set(B64URL)
    claims = verify(events[0].receipt_jws or "", {"keys": [signer.public_jwk()]})
    assert claims["consentReceiptID"] == events[0].receipt_id


def test_the_same_inputs_give_the_same_receipt(signer: ReceiptSigner) -> None:
    first = _issued(signer, _event(), receipt_id=RECEIPT_ID)
    again = _issued(signer, _event(), receipt_id=RECEIPT_ID)
    assert first == again
    later = _issued(
        signer, _event(occurred_at=OCCURRED + dt.timedelta(seconds=1)), receipt_id=RECEIPT_ID
    )
    assert later != first


def test_a_naive_time_is_read_as_utc(signer: ReceiptSigner) -> None:
    aware = _issued(signer, receipt_id=RECEIPT_ID)
    naive = _issued(
        signer,
        _event(
            occurred_at=OCCURRED.replace(tzinfo=None), valid_until=VALID_UNTIL.replace(tzinfo=None)
        ),
        receipt_id=RECEIPT_ID,
    )
    shanghai = dt.timezone(dt.timedelta(hours=8))
    local = _issued(
        signer,
        _event(
            occurred_at=OCCURRED.astimezone(shanghai), valid_until=VALID_UNTIL.astimezone(shanghai)
        ),
        receipt_id=RECEIPT_ID,
    )
    assert aware == naive == local


# -- the signing key -----------------------------------------------------------------------------


def test_the_receipt_key_is_its_own_private_file(app: Flask) -> None:
    paths: KeyPaths = app.config["KEY_PATHS"]
    path = paths.receipt_signing
    assert path.name == "consent-receipt-signing.pem"
    assert path.stat().st_mode & 0o777 == 0o600
    assert path not in {p for name, p in vars(paths).items() if name != "receipt_signing"}
    assert path.read_bytes() != paths.audit_signing.read_bytes()
    with app.app_context():
        assert receipts.get_signer().kid != audit.get_signer().key_id
        assert receipts.get_signer() is receipts.get_signer(app)  # read once, then cached


def test_the_receipt_key_survives_a_restart(app_config: dict[str, Any]) -> None:
    first = create_app(app_config)
    again = create_app(app_config)
    assert receipts.get_signer(first).kid == receipts.get_signer(again).kid
    assert receipts.jwks(first) == receipts.jwks(again)


def test_the_receipt_key_file_setting_is_honoured(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    elsewhere = tmp_path / "hsm-export" / "receipts.pem"
    app = create_app(app_config | {"RECEIPT_SIGNING_KEY_FILE": str(elsewhere)})
    assert app.config["KEY_PATHS"].receipt_signing == elsewhere
    assert elsewhere.stat().st_mode & 0o777 == 0o600
    public = receipts.get_signer(app).key.public_key()
    assert receipts.jwks(app)["keys"][0]["kid"] == audit_key_id(public)


def test_two_keys_in_one_file_are_refused(tmp_path: Path) -> None:
    shared = tmp_path / "signing.pem"
    with pytest.raises(KeyError_, match="same file"):
        KeyPaths(
            secret_key=tmp_path / "session.key",
            kek=tmp_path / "kek.json",
            blind_index=tmp_path / "blind-index.key",
            portal_link=tmp_path / "portal-link.key",
            audit_signing=shared,
            receipt_signing=shared,
        )


def test_the_signer_never_shows_its_key(signer: ReceiptSigner) -> None:
    private = signer.key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    text = repr(signer) + json.dumps(signer.public_jwk())
    assert _b64(private) not in text
    assert private.hex() not in text
    assert signer.kid in repr(signer)
