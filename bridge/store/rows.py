"""Building outbox rows for alerts already in the store (jobs, not webhook posts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from bridge.db.models import DeliveryRow, TransitionRow


def snapshot_from_row(row: Any, note: str | None = None) -> dict[str, Any]:
    snap: dict[str, Any] = {
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
    if note is not None:
        snap["note"] = note
    return snap


def add_delivery(
    conn: Connection,
    row: Any,
    channel: str,
    action: str,
    now: datetime,
    note: str | None = None,
) -> None:
    conn.execute(
        insert(DeliveryRow).values(
            alert_id=row.id,
            channel=channel,
            action=action,
            status="pending",
            starts_at=row.starts_at,
            snapshot=snapshot_from_row(row, note),
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )


def add_transition(conn: Connection, row: Any, status: str, reason: str, now: datetime) -> None:
    conn.execute(
        insert(TransitionRow).values(
            alert_id=row.id,
            fingerprint=row.fingerprint,
            alertname=row.alertname,
            node=row.node,
            severity=row.severity,
            status=status,
            reason=reason,
            starts_at=row.starts_at,
            at=now,
        )
    )
