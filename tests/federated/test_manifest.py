"""Cohort manifests: signatures, expiry, party, and the rows they admit."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federated.demo import Prepared
from federated.manifest import (
    ManifestError,
    blind_id,
    build_manifest,
    canonical_bytes,
    load_manifest,
    read_blinding_key,
    sign_manifest,
    verify_manifest,
)
from federated.rows import load_cohort

KEY = bytes(range(32))


def _signed(signer: Ed25519PrivateKey, **changes: object) -> dict[str, object]:
    document = build_manifest(
        agreement_id="agr_1",
        party="bank",
        blinded_ids=[blind_id(KEY, "c1"), blind_id(KEY, "c2")],
        blinding_key_id="agr_1/1",
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1),
    )
    document.update(changes)
    return sign_manifest(document, signer, "platform-1")


def test_a_signed_manifest_verifies_and_admits_its_blinded_ids() -> None:
    signer = Ed25519PrivateKey.generate()
    manifest = verify_manifest(_signed(signer), signer.public_key(), party="bank")
    assert blind_id(KEY, "c1") in manifest
    assert blind_id(KEY, "c3") not in manifest
    assert len(manifest) == 2
    assert manifest.agreement_id == "agr_1"


def test_the_manifest_hash_is_the_sha256_of_its_canonical_bytes() -> None:
    signer = Ed25519PrivateKey.generate()
    document = _signed(signer)
    manifest = verify_manifest(document, signer.public_key())
    assert manifest.sha256 == hashlib.sha256(canonical_bytes(document)).hexdigest()
    assert b"signature" not in canonical_bytes(document)


def test_an_added_blinded_id_breaks_the_signature() -> None:
    signer = Ed25519PrivateKey.generate()
    document = _signed(signer)
    ids = [*document["blinded_ids"], blind_id(KEY, "intruder")]  # type: ignore[misc]
    document["blinded_ids"] = sorted(ids)
    document["count"] = len(ids)
    with pytest.raises(ManifestError, match="signature does not verify"):
        verify_manifest(document, signer.public_key())


def test_a_manifest_signed_by_another_key_is_refused() -> None:
    document = _signed(Ed25519PrivateKey.generate())
    with pytest.raises(ManifestError, match="signature"):
        verify_manifest(document, Ed25519PrivateKey.generate().public_key())


def test_an_unsigned_manifest_is_refused() -> None:
    document = _signed(Ed25519PrivateKey.generate())
    del document["signature"]
    with pytest.raises(ManifestError, match="not signed"):
        verify_manifest(document, Ed25519PrivateKey.generate().public_key())


def test_an_expired_manifest_is_refused() -> None:
    signer = Ed25519PrivateKey.generate()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ManifestError, match="expired"):
        verify_manifest(_signed(signer, expires_at=past), signer.public_key())


def test_a_manifest_for_another_party_is_refused() -> None:
    signer = Ed25519PrivateKey.generate()
    with pytest.raises(ManifestError, match="another party"):
        verify_manifest(_signed(signer), signer.public_key(), party="retailer")


def test_the_cohort_is_the_rows_whose_blinded_id_is_in_the_manifest(
    vertical_data: Prepared,
) -> None:
    bank = vertical_data.parties[1]
    cohort = load_cohort(vertical_data.node_configs["bank"], "high_spending_capacity")
    assert cohort.rows_read == len(bank.ids)
    assert set(cohort.rows.ids) == set(bank.consented_ids)
    assert len(cohort.rows) < cohort.rows_read
    assert cohort.manifest_sha256 is not None


def test_a_withdrawn_customer_is_absent_from_the_next_cohort(
    vertical_data: Prepared, tmp_path: Path
) -> None:
    config = dict(vertical_data.node_configs["bank"])
    before = load_cohort(config, "high_spending_capacity")
    key = read_blinding_key(Path(config["blinding-key"]))
    leaver = before.rows.ids[0]
    signer = Ed25519PrivateKey.generate()
    document = build_manifest(
        agreement_id="agr_demo",
        party="bank",
        blinded_ids=[blind_id(key, cid) for cid in before.rows.ids if cid != leaver],
        blinding_key_id="agr_demo/blinding/1",
    )
    (tmp_path / "next.json").write_text(json.dumps(sign_manifest(document, signer, "k")))
    (tmp_path / "pub.pem").write_bytes(
        signer.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config.update(
        {
            "cohort-manifest": str(tmp_path / "next.json"),
            "manifest-public-key": str(tmp_path / "pub.pem"),
        }
    )
    after = load_cohort(config, "high_spending_capacity")
    assert leaver not in after.rows.ids
    assert len(after.rows) == len(before.rows) - 1
    assert after.manifest_sha256 != before.manifest_sha256


def test_a_tampered_manifest_file_stops_the_participant_before_any_row_is_read(
    horizontal_data: Prepared,
) -> None:
    config = horizontal_data.node_configs["brand-a"]
    path = Path(config["cohort-manifest"])
    document = json.loads(path.read_text())
    document["blinded_ids"][0] = "0" * 64
    path.write_text(json.dumps(document))
    Path(config["data-path"]).unlink()  # reading rows would fail differently
    with pytest.raises(ManifestError, match="signature does not verify"):
        load_cohort(config, "high_spending_capacity")
    with pytest.raises(ManifestError):
        load_manifest(path, Path(config["manifest-public-key"]), party="brand-a")


def test_a_blinding_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.hex"
    path.write_text(KEY.hex())
    path.chmod(0o644)
    with pytest.raises(ManifestError, match="readable by others"):
        read_blinding_key(path)
    path.chmod(0o600)
    assert read_blinding_key(path) == KEY
