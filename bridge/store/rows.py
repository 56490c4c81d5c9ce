"""Building outbox rows for scheduled jobs (not webhook posts): alerts already in the
store, and channel summaries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from bridge.db.models import DeliveryRow, TransitionRow
from bridge.routing import SLACK

# The action of a channel summary's outbox row (bridge/digest/job.py).
SUMMARY = "summary"


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


def add_summary(
    conn: Connection,
    text: str,
    blocks: list[dict[str, Any]],
    channel: str | None,
    slot: datetime,
    now: datetime,
) -> int:
    """A channel summary, queued in the outbox like every other Slack message."""
    summary = {"text": text, "blocks": blocks, "channel": channel}
    inserted = conn.execute(
        insert(DeliveryRow)
        .values(
            alert_id=None,
            channel=SLACK,
            action=SUMMARY,
            status="pending",
            starts_at=slot,
            snapshot={"summary": summary},
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        .returning(DeliveryRow.id)
    )
    return int(inserted.scalar_one())


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
