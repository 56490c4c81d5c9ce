"""Alerts held back by a maintenance window that still fire when it ends are delivered.

A storm held back by a window comes out of it as a storm: released alerts of a storming
name fold into its storm incident like new firings do (bridge/storms.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from bridge.db.models import AlertRow
from bridge.routing import HEARTBEAT, Routing
from bridge.silences.matching import mutes
from bridge.store.rows import add_delivery, add_transition
from bridge.store.storm_rows import fold_into_storm, storm_lanes
from bridge.store.windows import active_windows
from bridge.storm_view import most_severe
from bridge.storms import DEFAULT_LIMITS, StormLimits


def release_suppressed(
    conn: Connection, routing: Routing, now: datetime, storm: StormLimits = DEFAULT_LIMITS
) -> int:
    """Create the held-back triggers of alerts no active window mutes any more."""
    held = conn.execute(
        select(AlertRow.__table__)
        .where(AlertRow.suppressed_by.is_not(None), AlertRow.status == "firing")
        .order_by(AlertRow.id)  # in the order they arrived: the first page on their own
    ).all()
    if not held:
        return 0
    windows = active_windows(conn, now)
    free = [row for row in held if not any(mutes(w.matchers, row.labels) for w in windows)]
    channels = {
        row.id: [c for c in routing.channels_for(row.labels) if c != HEARTBEAT] for row in free
    }
    notifying = [row for row in free if channels[row.id]]
    decided = storm_lanes(conn, [row.alertname for row in notifying], storm, now)
    folding = {row.id for row, fold in zip(notifying, decided.folds, strict=True) if fold}
    released = 0
    folded: dict[str, list[Any]] = {}
    for row in free:
        into_storm = row.id in folding
        values: dict[str, Any] = {
            "suppressed_by": None,
            "channels": [] if into_storm else channels[row.id],
            "notified": bool(channels[row.id]) and not into_storm,
            "delivered_status": "firing" if channels[row.id] and not into_storm else None,
            "last_change_at": now,
        }
        if into_storm:
            values["storm_id"] = decided.states[row.alertname].open_storm
        # Compare-and-set: one replica releases it, the others see rowcount 0.
        won = conn.execute(
            update(AlertRow)
            .where(AlertRow.id == row.id, AlertRow.suppressed_by == row.suppressed_by)
            .values(values)
        )
        if won.rowcount != 1:
            continue
        released += 1
        if into_storm:
            add_transition(conn, row, "firing", "window_ended_storm_folded", now)
            folded.setdefault(row.alertname, []).append(row)
            continue
        add_transition(conn, row, "firing", "window_ended_still_firing", now)
        for channel in channels[row.id]:
            add_delivery(conn, row, channel, "trigger", now)
    for name in sorted(folded):
        rows = folded[name]
        # Every route of every alert folded: a critical among warnings still pages.
        routes = list(dict.fromkeys(c for r in rows for c in channels[r.id]))
        fold_into_storm(
            conn,
            name,
            [r.id for r in rows],
            most_severe(r.severity for r in rows) or "",
            routes,
            now,
            decided.states[name].open_storm,
        )
    return released
