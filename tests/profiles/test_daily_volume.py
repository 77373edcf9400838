"""The actors' daily counters: decisions and reads counted as audited, exported records too."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select

from consent import ledger
from governance.auth.actors import Actor
from governance.db import get_session
from governance.profiles.guarded import export_cohort, read_profile
from governance.profiles.store import create_subject
from policies import volume
from tests.consent.conftest import CURRENT_NOTICE, EVIDENCE, NOW

SERVICE = Actor(type="service", id="gk_counted", purposes=frozenset({"marketing_push"}))


def test_reads_decisions_and_exported_records_are_counted_per_local_day(
    app: Flask, catalog: Any, as_service: Any
) -> None:
    with app.app_context():
        session = get_session()
        subjects = [create_subject(session, {"city": "杭州"}) for _ in range(2)]
        session.flush()
        for subject in subjects:
            ledger.record(
                session,
                ledger.Change(
                    subject=subject,
                    purposes=("marketing_push",),
                    kind="grant",
                    channel="portal",
                    acted_by="subject",
                    actor_id=subject,
                    tier="basic",
                    notice_version=CURRENT_NOTICE,
                    evidence_sha256=EVIDENCE,
                ),
                now=NOW - dt.timedelta(days=1),
            )
        session.commit()
        for _ in range(2):
            read_profile(session, SERVICE, subjects[0], "marketing_push", ["city"], now=NOW)
        lines = list(export_cohort(session, SERVICE, "marketing_push", ["city"], now=NOW).lines)
        assert len(lines) == 2
        assert volume.today(session, "service", SERVICE.id, NOW) == (2, 2)
        # 16:00 UTC is already the next day in Shanghai: a new count.
        assert volume.today(session, "service", SERVICE.id, NOW + dt.timedelta(hours=6)) == (0, 0)

    client = as_service(["marketing_push"], ["policy:check"])
    questions = [{"subject": s, "purpose": "marketing_push", "fields": ["city"]} for s in subjects]
    assert client.post("/api/v1/policy/decisions", json={"questions": questions}).status_code == 200
    with app.app_context():
        session = get_session()
        counted = [
            v
            for v in session.scalars(select(volume.ActorDailyVolume))
            if v.actor_type == "service" and v.actor_id != SERVICE.id
        ]
        assert [c.requests for c in counted] == [2]
