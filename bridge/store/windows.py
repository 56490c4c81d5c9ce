"""Maintenance windows and their occurrences in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge.db.models import OccurrenceRow, WindowRow
from bridge.silences.matching import Matcher
from bridge.silences.model import WindowSpec, check_spec
from bridge.silences.recurrence import occurrences

# Recurring windows get their Alertmanager silences this far ahead.
PLAN_AHEAD = timedelta(hours=24)
SYNC_LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class ActiveWindow:
    window_id: str
    matchers: tuple[Matcher, ...]
    ends_at: datetime


def create_window(conn: Connection, window_id: str, spec: WindowSpec, now: datetime) -> None:
    """Store a window; `WindowError` for one that no reader could handle (every way in
    validated it already, except a Slack button, whose matchers come from alert labels)."""
    check_spec(spec)
    conn.execute(
        insert(WindowRow).values(
            id=window_id,
            matchers=[m.as_api() for m in spec.matchers],
            created_by=spec.created_by,
            comment=spec.comment,
            created_at=now,
            starts_at=spec.starts_at,
            ends_at=spec.ends_at,
            cron=spec.recurrence.cron if spec.recurrence else None,
            duration_seconds=spec.recurrence.duration.total_seconds() if spec.recurrence else None,
            timezone=spec.recurrence.timezone if spec.recurrence else None,
        )
    )
    if spec.ends_at is not None:
        _insert_occurrences(conn, window_id, [(spec.starts_at, spec.ends_at)])
    else:
        plan_window(conn, window_id, now)


def _insert_occurrences(
    conn: Connection, window_id: str, periods: Sequence[tuple[datetime, datetime]]
) -> None:
    if not periods:
        return
    rows = [
        {
            "window_id": window_id,
            "starts_at": start,
            "ends_at": end,
            "am_silences": {},
            "sync_state": "pending",
        }
        for start, end in periods
    ]
    # The unique (window_id, starts_at) makes planning idempotent: an occurrence
    # is created once, whichever replica or restart plans it.
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(OccurrenceRow).on_conflict_do_nothing(
            index_elements=["window_id", "starts_at"]
        )
    else:
        stmt = sqlite.insert(OccurrenceRow).on_conflict_do_nothing(
            index_elements=["window_id", "starts_at"]
        )
    conn.execute(stmt, rows)


def plan_window(conn: Connection, window_id: str, now: datetime) -> int:
    window = conn.execute(
        select(WindowRow.__table__).where(WindowRow.id == window_id)
    ).one_or_none()
    if window is None or window.cron is None or window.expired_at is not None:
        return 0
    periods = list(
        occurrences(
            window.cron,
            window.timezone or "UTC",
            timedelta(seconds=window.duration_seconds or 0),
            not_before=max(now, window.starts_at),
            until=now + PLAN_AHEAD,
        )
    )
    _insert_occurrences(conn, window_id, periods)
    return len(periods)


def plan_recurring(conn: Connection, now: datetime) -> int:
    ids = conn.execute(
        select(WindowRow.id).where(WindowRow.cron.is_not(None), WindowRow.expired_at.is_(None))
    ).scalars()
    return sum(plan_window(conn, window_id, now) for window_id in list(ids))


# Built once: every webhook post with a new firing alert asks.
_ACTIVE = (
    select(WindowRow.id, WindowRow.matchers, OccurrenceRow.ends_at)
    .join(OccurrenceRow, OccurrenceRow.window_id == WindowRow.id)
    .where(
        WindowRow.expired_at.is_(None),
        OccurrenceRow.starts_at <= bindparam("now"),
        OccurrenceRow.ends_at > bindparam("now"),
    )
)


def active_windows(conn: Connection, now: datetime) -> list[ActiveWindow]:
    rows = conn.execute(_ACTIVE, {"now": now})
    return [
        ActiveWindow(r.id, tuple(Matcher.from_api(m) for m in r.matchers), r.ends_at) for r in rows
    ]


def expire_window(conn: Connection, window_id: str, now: datetime) -> bool:
    changed = conn.execute(
        update(WindowRow)
        .where(WindowRow.id == window_id, WindowRow.expired_at.is_(None))
        .values(expired_at=now)
    )
    if changed.rowcount != 1:
        return (
            conn.execute(select(WindowRow.id).where(WindowRow.id == window_id)).first() is not None
        )
    # Occurrences that reached Alertmanager must be expired there too.
    conn.execute(
        update(OccurrenceRow)
        .where(OccurrenceRow.window_id == window_id, OccurrenceRow.ends_at > now)
        .values(sync_state="expiring", sync_claimed_until=None)
    )
    return True


def sync_state_counts(conn: Connection, now: datetime) -> dict[str, int]:
    """Occurrences that have not ended (or still have a silence to expire), by sync state."""
    live = or_(OccurrenceRow.ends_at > now, OccurrenceRow.sync_state == "expiring")
    rows = conn.execute(
        select(OccurrenceRow.sync_state, func.count())
        .where(live)
        .group_by(OccurrenceRow.sync_state)
    )
    return {state: int(count) for state, count in rows}


def claim_sync(
    conn: Connection, now: datetime, worker: str, limit: int = 50
) -> list[dict[str, Any]]:
    """Occurrences whose Alertmanager state must change, claimed for `SYNC_LEASE`."""
    due = or_(
        # Refused (e.g. Alertmanager's silence limit) is retried too: the limit frees up.
        and_(OccurrenceRow.sync_state.in_(("pending", "refused")), OccurrenceRow.ends_at > now),
        OccurrenceRow.sync_state == "expiring",
    )
    free = or_(OccurrenceRow.sync_claimed_until.is_(None), OccurrenceRow.sync_claimed_until < now)
    query = (
        select(OccurrenceRow.__table__, WindowRow.matchers, WindowRow.created_by, WindowRow.comment)
        .join(WindowRow, WindowRow.id == OccurrenceRow.window_id)
        .where(due, free)
        .order_by(OccurrenceRow.starts_at)
        .limit(limit)
    )
    claimed = []
    for row in conn.execute(query).all():
        got = conn.execute(
            update(OccurrenceRow)
            .where(OccurrenceRow.id == row.id, free)
            .values(sync_claimed_until=now + SYNC_LEASE)
        )
        if got.rowcount == 1:
            claimed.append(dict(row._mapping))
    return claimed


def record_sync(
    conn: Connection,
    occurrence_id: int,
    *,
    am_silences: dict[str, str],
    state: str,
    error: str | None,
    now: datetime,
) -> None:
    conn.execute(
        update(OccurrenceRow)
        .where(OccurrenceRow.id == occurrence_id)
        .values(
            am_silences=am_silences,
            sync_state=state,
            sync_error=error,
            synced_at=now if error is None else None,
            sync_claimed_until=None,
        )
    )


def window_rows(
    conn: Connection, window_ids: Sequence[str] | None = None
) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    query = select(WindowRow.__table__).order_by(WindowRow.created_at.desc())
    if window_ids is not None:
        query = query.where(WindowRow.id.in_(list(window_ids)))
    windows = [dict(r._mapping) for r in conn.execute(query)]
    if not windows:
        return []
    occ: dict[str, list[dict[str, Any]]] = {w["id"]: [] for w in windows}
    for r in conn.execute(
        select(OccurrenceRow.__table__)
        .where(OccurrenceRow.window_id.in_(list(occ)))
        .order_by(OccurrenceRow.starts_at)
    ):
        occ[r.window_id].append(dict(r._mapping))
    return [(w, occ[w["id"]]) for w in windows]
