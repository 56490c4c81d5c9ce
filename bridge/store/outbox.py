"""Claiming and finishing outbox rows, safe across threads, processes and replicas.

A row is claimed with a compare-and-set update (`status='pending'` →
`in_flight` with a lease); on PostgreSQL candidates are read with
`FOR UPDATE SKIP LOCKED` so replicas do not queue behind each other. A row is
never claimed while an earlier row of the same alert and channel is
unfinished: a resolve never overtakes its trigger. A lease that runs out
(the process died) puts the row back to pending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, exists, func, insert, select, update
from sqlalchemy.orm import aliased

from bridge.db.models import AlertRow, AttemptRow, DeliveryRow
from bridge.routing import SLACK

UNFINISHED = ("pending", "in_flight")
# Slack actions that belong in (or update) the alert's existing message thread.
THREADED_ACTIONS = ("resolve", "reminder", "flapping", "flap_settled")
NOTE_ACTIONS = ("reminder", "flapping", "flap_settled")
FINISHED = ("delivered", "dry_run", "dead")
# Longer than any single delivery (timeouts are seconds), short enough that a
# killed process's rows are picked up again quickly.
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Delivery:
    id: int
    alert_id: int
    channel: str
    action: str
    attempts: int
    created_at: datetime
    starts_at: datetime
    snapshot: dict[str, Any]
    context: dict[str, Any] | None


@dataclass(frozen=True)
class SlackMessage:
    """The Slack message an alert's episode was posted as, and who shares it."""

    channel: str
    ts: str
    # Snapshots (with current status) of every alert listed in that message.
    alerts: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Job:
    """What one notifier call handles: one delivery, or a Slack batch of triggers."""

    channel: str
    action: str
    deliveries: tuple[Delivery, ...]
    slack_message: SlackMessage | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(d.id for d in self.deliveries)


def release_expired(conn: Connection, now: datetime) -> int:
    result = conn.execute(
        update(DeliveryRow)
        .where(DeliveryRow.status == "in_flight", DeliveryRow.claimed_until < now)
        .values(status="pending", claimed_by=None, claimed_until=None)
    )
    return result.rowcount or 0


def _candidates(conn: Connection, now: datetime, limit: int) -> list[int]:
    earlier = aliased(DeliveryRow)
    blocked = exists().where(
        and_(
            earlier.alert_id == DeliveryRow.alert_id,
            earlier.channel == DeliveryRow.channel,
            earlier.id < DeliveryRow.id,
            earlier.status.in_(UNFINISHED),
        )
    )
    query = (
        select(DeliveryRow.id)
        .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now, ~blocked)
        .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=DeliveryRow)
    return list(conn.execute(query).scalars())


def _claim_one(conn: Connection, delivery_id: int, worker: str, now: datetime) -> bool:
    result = conn.execute(
        update(DeliveryRow)
        .where(DeliveryRow.id == delivery_id, DeliveryRow.status == "pending")
        .values(
            status="in_flight",
            claimed_by=worker,
            claimed_until=now + LEASE,
            attempts=DeliveryRow.attempts + 1,
        )
    )
    return result.rowcount == 1


def _load(conn: Connection, ids: list[int]) -> list[Delivery]:
    rows = conn.execute(
        select(DeliveryRow.__table__).where(DeliveryRow.id.in_(ids)).order_by(DeliveryRow.id)
    )
    return [
        Delivery(
            id=r.id,
            alert_id=r.alert_id,
            channel=r.channel,
            action=r.action,
            attempts=r.attempts,
            created_at=r.created_at,
            starts_at=r.starts_at,
            snapshot=r.snapshot,
            context=r.context,
        )
        for r in rows
    ]


def _batch_siblings(conn: Connection, delivery_id: int, worker: str, now: datetime) -> list[int]:
    key = conn.execute(
        select(DeliveryRow.batch_key).where(DeliveryRow.id == delivery_id)
    ).scalar_one()
    if key is None:
        return []
    query = select(DeliveryRow.id).where(
        DeliveryRow.batch_key == key,
        DeliveryRow.id != delivery_id,
        DeliveryRow.status == "pending",
    )
    if conn.dialect.name == "postgresql":
        # Another claimer may hold a sibling as its own candidate: skip it rather
        # than wait, or the two transactions deadlock on each other's rows.
        query = query.with_for_update(skip_locked=True)
    sibling_ids = list(conn.execute(query).scalars())
    return [i for i in sibling_ids if _claim_one(conn, i, worker, now)]


def slack_message_for(conn: Connection, alert_id: int) -> SlackMessage | None:
    row = conn.execute(
        select(AlertRow.slack_channel, AlertRow.slack_ts).where(AlertRow.id == alert_id)
    ).one_or_none()
    if row is None or not row.slack_ts or not row.slack_channel:
        return None
    members = conn.execute(
        select(AlertRow.__table__)
        .where(AlertRow.slack_ts == row.slack_ts, AlertRow.slack_channel == row.slack_channel)
        .order_by(AlertRow.fingerprint)
    )
    return SlackMessage(
        channel=row.slack_channel,
        ts=row.slack_ts,
        alerts=tuple(
            {
                "fingerprint": m.fingerprint,
                "status": m.status,
                "labels": m.labels,
                "annotations": m.annotations,
                "starts_at": m.starts_at.isoformat(),
                "ends_at": m.ends_at.isoformat() if m.ends_at else None,
                "generator_url": m.generator_url,
            }
            for m in members
        ),
    )


def claim(conn: Connection, worker: str, now: datetime, limit: int = 1) -> list[Job]:
    """Claim up to `limit` due jobs inside the caller's transaction."""
    jobs: list[Job] = []
    for delivery_id in _candidates(conn, now, limit):
        if not _claim_one(conn, delivery_id, worker, now):
            continue  # another worker won the race
        ids = [delivery_id, *_batch_siblings(conn, delivery_id, worker, now)]
        deliveries = _load(conn, ids)
        first = deliveries[0]
        message = None
        if first.channel == SLACK and first.action in THREADED_ACTIONS:
            message = slack_message_for(conn, first.alert_id)
        jobs.append(Job(first.channel, first.action, tuple(deliveries), message))
    return jobs


@dataclass(frozen=True)
class Finish:
    """How one attempt ended, as the worker decided it."""

    status: str  # delivered | dry_run | dead | pending (retry)
    outcome: str  # delivered | dry_run | retry | dead
    detail: str
    http_status: int | None = None
    next_attempt_at: datetime | None = None
    external_ref: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None


def finish(
    conn: Connection,
    job: Job,
    worker: str,
    result: Finish,
    started_at: datetime,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> None:
    duration_ms = int((now - started_at).total_seconds() * 1000)
    for delivery in job.deliveries:
        values: dict[str, Any] = {
            "status": result.status,
            "claimed_by": None,
            "claimed_until": None,
            "last_error": None if result.outcome in ("delivered", "dry_run") else result.detail,
        }
        if context is not None:
            values["context"] = context
        if result.status in FINISHED:
            values["finished_at"] = now
            values["external_ref"] = result.external_ref
        else:
            values["next_attempt_at"] = result.next_attempt_at or now
        changed = conn.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery.id, DeliveryRow.claimed_by == worker)
            .values(**values)
        )
        if changed.rowcount != 1:
            continue  # lease expired and someone else owns it now; their result counts
        conn.execute(
            insert(AttemptRow).values(
                delivery_id=delivery.id,
                started_at=started_at,
                duration_ms=duration_ms,
                outcome=result.outcome,
                http_status=result.http_status,
                detail=result.detail[:2000],
            )
        )
        if result.slack_ts and job.action == "trigger":
            # Only the episode the message was about: a re-fire since then has its own.
            conn.execute(
                update(AlertRow)
                .where(AlertRow.id == delivery.alert_id, AlertRow.starts_at == delivery.starts_at)
                .values(slack_channel=result.slack_channel, slack_ts=result.slack_ts)
            )


def outbox_depth(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        select(DeliveryRow.status, func.count())
        .where(DeliveryRow.status.in_((*UNFINISHED, "dead")))
        .group_by(DeliveryRow.status)
    )
    depth = {"pending": 0, "in_flight": 0, "dead": 0}
    depth.update({status: count for status, count in rows})
    return depth


def next_due(conn: Connection) -> datetime | None:
    value: datetime | None = conn.execute(
        select(func.min(DeliveryRow.next_attempt_at)).where(DeliveryRow.status == "pending")
    ).scalar()
    return value
