"""How much each actor did today: the volume the policies' thresholds judge.

One row per actor and local day (Asia/Shanghai): ``requests`` counts decisions and guarded
reads, ``records`` the subjects its bulk exports revealed. Each is incremented in the
transaction that audits the work, so the count is exactly what was committed, and reading
it is one primary-key lookup whatever the actor's history (counting audit entries would
grow with every read of the day).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Date, String, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from governance.db import Base

__all__ = ["ActorDailyVolume", "add", "today"]


class ActorDailyVolume(Base):
    """An actor's counts for one local day."""

    __tablename__ = "actor_daily_volumes"

    actor_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    records: Mapped[int] = mapped_column(BigInteger, default=0)


def _day(now: dt.datetime) -> dt.date:
    from policies.inputs import LOCAL_ZONE

    return now.astimezone(LOCAL_ZONE).date()


def today(session: Session, actor_type: str, actor_id: str, now: dt.datetime) -> tuple[int, int]:
    """(requests, records) of the actor on ``now``'s local day."""
    row = session.execute(
        select(ActorDailyVolume.requests, ActorDailyVolume.records).where(
            ActorDailyVolume.actor_type == actor_type,
            ActorDailyVolume.actor_id == actor_id,
            ActorDailyVolume.day == _day(now),
        )
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else (0, 0)


def add(
    session: Session,
    actor_type: str,
    actor_id: str,
    now: dt.datetime,
    *,
    requests: int = 0,
    records: int = 0,
) -> None:
    """Add to the actor's counts of the day (in the caller's transaction)."""
    if not requests and not records:
        return
    table = ActorDailyVolume.__table__
    values = {
        "actor_type": actor_type,
        "actor_id": actor_id,
        "day": _day(now),
        "requests": requests,
        "records": records,
    }
    dialect = session.get_bind().dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["actor_type", "actor_id", "day"],
        set_={
            "requests": table.c.requests + statement.excluded.requests,
            "records": table.c.records + statement.excluded.records,
        },
    )
    session.execute(statement)
