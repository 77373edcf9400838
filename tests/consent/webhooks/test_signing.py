"""Signatures: HMAC-SHA256 over "t.body", checked in constant time within a tolerance."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from consent.webhooks import sign, verify_signature

SECRET = "whsec_fictional-secret-for-tests-only-0000000"
BODY = b'{"event_id":7,"kind":"withdraw","purpose":"marketing_push"}'
T = 1_795_600_000  # 2026-11-25, a fixed "now" for these tests


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, T) == f"t={T},v1={expected}"


def test_a_fresh_signature_verifies() -> None:
    assert verify_signature(SECRET, sign(SECRET, BODY, T), BODY, now=T + 1)
    assert verify_signature(SECRET.encode(), sign(SECRET, BODY, T), BODY, now=T)


def test_a_changed_body_does_not_verify() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify_signature(SECRET, header, BODY.replace(b"withdraw", b"grant"), now=T)
    assert not verify_signature(SECRET, header, BODY + b" ", now=T)


def test_another_secret_does_not_verify() -> None:
    assert not verify_signature(SECRET + "x", sign(SECRET, BODY, T), BODY, now=T)


@pytest.mark.parametrize("offset", [-301, 301, 10_000])
def test_a_signature_outside_the_tolerance_is_refused(offset: int) -> None:
    header = sign(SECRET, BODY, T)
    assert not verify_signature(SECRET, header, BODY, now=T + offset)
    assert verify_signature(SECRET, header, BODY, tolerance_s=abs(offset), now=T + offset)


def test_changing_the_timestamp_breaks_the_signature() -> None:
    header = sign(SECRET, BODY, T).replace(f"t={T}", f"t={T + 60}")
    assert not verify_signature(SECRET, header, BODY, now=T + 60)


def test_one_matching_v1_among_several_verifies() -> None:
    good = sign(SECRET, BODY, T).split(",")[1]
    header = f"t={T},v1={'0' * 64},{good}"
    assert verify_signature(SECRET, header, BODY, now=T)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "v1=abc",  # no timestamp
        f"t={T}",  # no signature
        f"t={T},t={T},v1=00",  # two timestamps
        f"t=-{T},v1=00",
        f"t={T}.5,v1=00",
        "t=\uff11\uff12\uff13,v1=00",  # non-ASCII (full-width) digits
        f"t={'9' * 40},v1=00",
        f"t={T},v1=ü",
        "garbage",
    ],
)
def test_malformed_headers_are_not_valid(header: str | None) -> None:
    assert verify_signature(SECRET, header, BODY, now=T) is False
