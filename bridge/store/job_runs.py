"""Job slots claimed in the database: each (job, slot) runs on exactly one replica."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge.db.models import JobRunRow


def claim_slot(conn: Connection, job: str, slot: datetime, worker: str, now: datetime) -> bool:
    """True for the one caller whose insert of (job, slot) won."""
    values = {"job": job, "slot": slot, "claimed_by": worker, "started_at": now}
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(JobRunRow).values(**values)
    else:
        stmt = sqlite.insert(JobRunRow).values(**values)
    # A returned row, not rowcount: with the RETURNING that SQLAlchemy adds for the
    # primary key, psycopg reports rowcount -1 and every replica would think it lost.
    result = conn.execute(
        stmt.on_conflict_do_nothing(index_elements=["job", "slot"]).returning(JobRunRow.id)
    )
    return result.first() is not None


def ran_before(conn: Connection, job: str, slot: datetime) -> bool:
    """Has `job` claimed any slot before `slot` (is this not its first)?"""
    earlier = select(JobRunRow.id).where(JobRunRow.job == job, JobRunRow.slot < slot).limit(1)
    return conn.execute(earlier).first() is not None


def finish_slot(
    conn: Connection, job: str, slot: datetime, outcome: str, detail: str, now: datetime
) -> None:
    conn.execute(
        update(JobRunRow)
        .where(JobRunRow.job == job, JobRunRow.slot == slot)
        .values(outcome=outcome, detail=detail[:2000], finished_at=now)
    )


def last_runs(conn: Connection) -> dict[str, dict[str, Any]]:
    latest = (
        select(JobRunRow.job, func.max(JobRunRow.slot).label("slot"))
        .group_by(JobRunRow.job)
        .subquery()
    )
    rows = conn.execute(
        select(JobRunRow.__table__).join(
            latest, (JobRunRow.job == latest.c.job) & (JobRunRow.slot == latest.c.slot)
        )
    )
    return {r.job: dict(r._mapping) for r in rows}
