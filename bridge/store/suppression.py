"""Alerts held back by a maintenance window that still fire when it ends are delivered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from bridge.db.models import AlertRow
from bridge.routing import HEARTBEAT, Routing
from bridge.silences.matching import mutes
from bridge.store.rows import add_delivery, add_transition
from bridge.store.windows import active_windows


def release_suppressed(conn: Connection, routing: Routing, now: datetime) -> int:
    """Create the held-back triggers of alerts no active window mutes any more."""
    held = conn.execute(
        select(AlertRow.__table__).where(
            AlertRow.suppressed_by.is_not(None), AlertRow.status == "firing"
        )
    ).all()
    if not held:
        return 0
    windows = active_windows(conn, now)
    released = 0
    for row in held:
        if any(mutes(w.matchers, row.labels) for w in windows):
            continue
        channels = [c for c in routing.channels_for(row.labels) if c != HEARTBEAT]
        # Compare-and-set: one replica releases it, the others see rowcount 0.
        won = conn.execute(
            update(AlertRow)
            .where(AlertRow.id == row.id, AlertRow.suppressed_by == row.suppressed_by)
            .values(
                suppressed_by=None,
                channels=channels,
                notified=bool(channels),
                delivered_status="firing" if channels else None,
                last_change_at=now,
            )
        )
        if won.rowcount != 1:
            continue
        add_transition(conn, row, "firing", "window_ended_still_firing", now)
        for channel in channels:
            add_delivery(conn, row, channel, "trigger", now)
        released += 1
    return released
