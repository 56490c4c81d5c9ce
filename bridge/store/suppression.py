"""Alerts held back by a maintenance window that still fire when it ends are delivered."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from bridge.db.models import AlertRow, DeliveryRow, TransitionRow
from bridge.routing import HEARTBEAT, Routing
from bridge.silences.matching import mutes
from bridge.store.windows import active_windows


def _snapshot(row: Any) -> dict[str, Any]:
    return {
        "status": row.status,
        "labels": row.labels,
        "annotations": row.annotations,
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat() if row.ends_at else None,
        "generator_url": row.generator_url,
        "fingerprint": row.fingerprint,
        "group_key": "",
        "receiver": "",
    }


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
                last_change_at=now,
            )
        )
        if won.rowcount != 1:
            continue
        conn.execute(
            insert(TransitionRow).values(
                alert_id=row.id,
                fingerprint=row.fingerprint,
                alertname=row.alertname,
                node=row.node,
                severity=row.severity,
                status="firing",
                reason="window_ended_still_firing",
                starts_at=row.starts_at,
                at=now,
            )
        )
        for channel in channels:
            conn.execute(
                insert(DeliveryRow).values(
                    alert_id=row.id,
                    channel=channel,
                    action="trigger",
                    status="pending",
                    starts_at=row.starts_at,
                    snapshot=_snapshot(row),
                    attempts=0,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
        released += 1
    return released
