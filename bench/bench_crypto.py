"""Field encryption against raw AES-GCM, and KEK re-wrapping throughput.

``crypto-field``
    One subject's ten catalogued values, sealed and opened ``BENCH_CRYPTO_FIELDS`` times
    in all (default 200,000) through :class:`governance.profiles.crypto.SubjectCipher`
    (canonical JSON, associated data naming subject, field and key version, format byte,
    fresh nonce) and, in the same run, with bare ``AESGCM.encrypt``/``decrypt`` of the same
    canonical-JSON bytes (a fresh nonce each, no associated data). Best of three runs each
    way: time per field, and the SubjectCipher/raw time ratios.

``crypto-rewrap``
    ``BENCH_REWRAP_SUBJECTS`` subjects (default 100,000) bulk-created in a fresh SQLite
    instance (``SubjectBatch`` + ``insert_rows``), then ``governance keys rotate-kek`` and
    ``governance keys rewrap --batch-size 1000`` through the CLI: data keys re-wrapped per
    second, against 2,778/s (ten million subjects within an hour), and the time of
    ``governance keys status`` (one aggregate scan per wrapped column).
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.harness import Metric, benchmark, instance_config

#: Re-wrapping ten million data keys within an hour.
REWRAP_KEYS_PER_SECOND = 10_000_000 / 3600
DEFAULT_FIELDS = 200_000
DEFAULT_SUBJECTS = 100_000
CREATE_BATCH = 5_000

# One fictional customer's values (reserved number range, example.com, invented names).
VALUES: dict[str, Any] = {
    "mobile": "+86 100-2000-0001",
    "email": "xiaoyu.wang@example.com",
    "wecom_unionid": "oDemoFictionalUnion0001",
    "nickname": "小雨",
    "birth_year": 1991,
    "city": "杭州",
    "browse_history": ["面霜", "口红", "香水"],
    "order_total_12m": 1234.5,
    "coupon_use": 2,
    "gender": "female",
}


def _best_of(runs: int, func: Callable[[], None]) -> float:
    func()  # warm-up
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return best


@benchmark("crypto-field", description="per-field encrypt/decrypt vs raw AES-GCM, same run")
def field_encryption() -> list[Metric]:
    """Nanoseconds per field through SubjectCipher and bare AES-GCM, and their ratios."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from governance.profiles.crypto import SubjectCipher, canonical_json

    total = int(os.environ.get("BENCH_CRYPTO_FIELDS", DEFAULT_FIELDS))
    rounds = max(1, total // len(VALUES))
    count = rounds * len(VALUES)
    data_key = AESGCM.generate_key(bit_length=256)
    cipher = SubjectCipher("sub_BenchFictional000000", 1, data_key)
    raw = AESGCM(data_key)
    fields = list(VALUES.items())
    plain = [canonical_json(value) for _, value in fields]
    sealed = [(name, cipher.encrypt(name, value)) for name, value in fields]
    raw_sealed = [(nonce, raw.encrypt(nonce, p, None)) for p in plain for nonce in [os.urandom(12)]]

    def encrypt_cipher() -> None:
        enc = cipher.encrypt
        for _ in range(rounds):
            for name, value in fields:
                enc(name, value)

    def encrypt_raw() -> None:
        enc, urandom = raw.encrypt, os.urandom
        for _ in range(rounds):
            for data in plain:
                enc(urandom(12), data, None)

    def decrypt_cipher() -> None:
        dec = cipher.decrypt
        for _ in range(rounds):
            for name, blob in sealed:
                dec(name, blob)

    def decrypt_raw() -> None:
        dec = raw.decrypt
        for _ in range(rounds):
            for nonce, blob in raw_sealed:
                dec(nonce, blob, None)

    enc_c, enc_r = _best_of(3, encrypt_cipher), _best_of(3, encrypt_raw)
    dec_c, dec_r = _best_of(3, decrypt_cipher), _best_of(3, decrypt_raw)
    per = 1e9 / count
    return [
        Metric("encrypt, SubjectCipher", enc_c * per, "ns/field"),
        Metric("encrypt, raw AES-GCM", enc_r * per, "ns/field"),
        Metric("encrypt: SubjectCipher / raw", enc_c / enc_r, "x"),
        Metric("decrypt, SubjectCipher", dec_c * per, "ns/field"),
        Metric("decrypt, raw AES-GCM", dec_r * per, "ns/field"),
        Metric("decrypt: SubjectCipher / raw", dec_c / dec_r, "x"),
        Metric("fields per run", count, "fields"),
    ]


def _populate(app: Any, count: int) -> None:
    """Bulk-create ``count`` subjects with one value each (batches of CREATE_BATCH)."""
    from consent.catalog.loader import DEFAULT_CATALOG_PATH, load_catalog_file
    from governance.db import get_session
    from governance.profiles.crypto import profile_crypto
    from governance.profiles.store import SubjectBatch, load_field_specs

    with app.app_context():
        db = get_session()
        load_catalog_file(db, DEFAULT_CATALOG_PATH)
        db.commit()
        batch = SubjectBatch(load_field_specs(db), profile_crypto())
        for n in range(count):
            batch.add(f"sub_{n:022d}", {"nickname": "小雨"}, validated=True)
            if len(batch) == CREATE_BATCH:
                batch.flush(db)
                db.commit()
        batch.flush(db)
        db.commit()


def _cli(app: Any, *args: str) -> tuple[float, Any]:
    started = time.perf_counter()
    result = app.test_cli_runner().invoke(args=list(args))
    seconds = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({result.exit_code}): {result.output}")
    return seconds, result


@benchmark("crypto-rewrap", description="governance keys rewrap on SQLite, keys per second")
def rewrap_throughput() -> list[Metric]:
    """Data keys re-wrapped per second after a KEK rotation, and the status scan's time."""
    from governance import create_app
    from governance.db import get_engine
    from governance.models import metadata

    count = int(os.environ.get("BENCH_REWRAP_SUBJECTS", DEFAULT_SUBJECTS))
    with tempfile.TemporaryDirectory(prefix="bench-rewrap-") as tmp:
        app = create_app(instance_config(Path(tmp), AUDIT_CHECKPOINT_ON_SHUTDOWN=False))
        metadata.create_all(get_engine(app))
        started = time.perf_counter()
        _populate(app, count)
        create_s = time.perf_counter() - started
        _, rotated = _cli(app, "keys", "rotate-kek")
        new_id = rotated.stdout.strip()
        rewrap_s, rewrapped = _cli(app, "keys", "rewrap", "--batch-size", "1000")
        if f"re-wrapped {count} secrets under {new_id}" not in rewrapped.stdout:
            raise RuntimeError(f"unexpected rewrap output: {rewrapped.stdout}")
        status_s, status = _cli(app, "keys", "status", "--json")
        if json.loads(status.stdout)["keys"][new_id]["subject_keys"] != count:
            raise RuntimeError("status does not count every re-wrapped key")
        get_engine(app).dispose()
    return [
        Metric(
            "rewrap",
            count / rewrap_s,
            "keys/s",
            limit=REWRAP_KEYS_PER_SECOND,
            higher_is_better=True,
        ),
        Metric("rewrap seconds", rewrap_s, "s"),
        Metric("status (count per KEK)", status_s, "s"),
        Metric("subjects created (setup)", count / create_s, "subjects/s"),
        Metric("subjects", count, "subjects"),
    ]
