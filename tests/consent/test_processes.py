"""Other processes: a withdrawal is seen at once, and concurrent decisions lose nothing.

Runs on SQLite and PostgreSQL. Each child builds its own app from the test app's
settings (same database), as a gunicorn worker or a CLI command would.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from consent import ledger
from tests.consent.conftest import EVIDENCE

CHILD = r"""
import json, random, sys
from consent import ledger
from consent.tiers import Tier
from governance import create_app
from governance.db import get_session

config, role = json.loads(sys.argv[1]), sys.argv[2]
app = create_app(config)
with app.app_context():
    session = get_session()
    if role == "checker":
        # A long-lived worker: asks, waits for a line, asks again, on the same engine.
        for line in sys.stdin:
            answer = ledger.check(session, line.strip(), "marketing_push", Tier.BASIC)
            session.rollback()  # end the read, as a request's teardown does
            print(answer.reason, flush=True)
    elif role == "withdraw":
        ledger.record(session, ledger.Change(
            subject=sys.argv[3], purposes=("marketing_push",), kind="withdraw",
            channel="api", acted_by="subject", actor_id=sys.argv[3]))
        session.commit()
        print("committed", flush=True)
    else:  # decide: random grants and withdrawals, one commit each
        rng = random.Random(int(sys.argv[3]))
        subjects, count, made = json.loads(sys.argv[4]), int(sys.argv[5]), 0
        print("ready", flush=True)
        sys.stdin.readline()
        for _ in range(count):
            kind = rng.choice(["grant", "withdraw"])
            extra = {"tier": "behaviour", "notice_version": "2026-09",
                     "evidence_sha256": sys.argv[6]} if kind == "grant" else {}
            recorded = ledger.record(session, ledger.Change(
                subject=rng.choice(subjects), purposes=(rng.choice(
                    ["marketing_push", "analytics"]),), kind=kind, channel="api",
                acted_by="subject", actor_id="svc", **extra))
            session.commit()
            made += len(recorded.events)
        print(json.dumps(made), flush=True)
"""


def test_a_withdrawal_committed_elsewhere_is_seen_by_the_next_check(
    ledger_db: Any,
    make_subject: Any,
    decide: Any,
    python_process: Any,
    child_config: dict[str, Any],
) -> None:
    subject = make_subject(10)
    decide(subject, "grant", "marketing_push", tier="basic")
    checker = python_process(CHILD, child_config, "checker")
    assert checker.stdin is not None and checker.stdout is not None
    checker.stdin.write(subject + "\n")
    checker.stdin.flush()
    assert checker.stdout.readline().strip() == "valid"

    withdrawer = python_process(CHILD, child_config, "withdraw", subject)
    out, err = withdrawer.communicate(timeout=120)
    assert withdrawer.returncode == 0, err
    assert out.strip() == "committed"

    checker.stdin.write(subject + "\n")
    checker.stdin.flush()
    assert checker.stdout.readline().strip() == "withdrawn"
    checker.stdin.close()
    assert checker.wait(timeout=60) == 0


def test_concurrent_decisions_from_several_processes_lose_nothing(
    ledger_db: Any, make_subject: Any, python_process: Any, child_config: dict[str, Any]
) -> None:
    subjects = [make_subject(100 + n) for n in range(20)]
    writers, each = 4, 250  # 1,000 calls in all
    procs = [
        python_process(
            CHILD, child_config, "decide", str(seed), json.dumps(subjects), str(each), EVIDENCE
        )
        for seed in range(writers)
    ]
    for proc in procs:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    made = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        made += json.loads(out.strip().splitlines()[-1])
    ledger_db.rollback()
    assert ledger.count_events(ledger_db) == made > 0
    assert ledger.differences(ledger_db) == []
    audited = ledger_db.execute(
        text(
            "SELECT count(*) FROM audit_entries "
            "WHERE action IN ('consent.grant', 'consent.withdraw')"
        )
    ).scalar_one()
    assert audited == made  # every event has its audit entry, none without one
