"""Claiming outbox rows, safe across threads, processes and replicas (finishing: attempts.py).

A row is claimed with a compare-and-set update (`status='pending'` →
`in_flight` with a lease); on PostgreSQL candidates are read with
`FOR UPDATE SKIP LOCKED` so replicas do not queue behind each other. A row is
never claimed while an earlier row of the same alert and channel is
unfinished: a resolve never overtakes its trigger. A lease that runs out
(the process died) puts the row back to pending.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    TextClause,
    bindparam,
    exists,
    select,
    text,
    update,
)

from bridge.db.models import (
    DEAD_SQL,
    DELIVERIES,
    IN_FLIGHT_SQL,
    PENDING_SQL,
    AlertRow,
)
from bridge.routing import CHANNELS, PAGERDUTY, SLACK
from bridge.store.responses import responses_for
from bridge.store.storm_rows import STORM_ACTIONS, STORM_ACTS, mark_claimed
from bridge.storm_view import StormView
from bridge.storms import LANES

UNFINISHED = ("pending", "in_flight")
# Slack actions that belong in (or update) the alert's existing message thread.
THREADED_ACTIONS = ("resolve", "reminder", "flapping", "flap_settled", "state")
# Slack: the message updated in place with what people did, and one line in its thread.
STATE_ACTION = "state"
# PagerDuty: an Events v2 `acknowledge` asked for from Slack (bridge/interact).
ACKNOWLEDGE_ACTION = "acknowledge"
NOTE_ACTIONS = ("reminder", "flapping", "flap_settled")
FINISHED = ("delivered", "dry_run", "dead")
# Longer than any single delivery (timeouts are seconds), short enough that a
# killed process's rows are picked up again quickly.
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class Delivery:
    id: int
    alert_id: int | None  # None: a channel summary
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
    # A storm incident's notification: the storm as it is when claimed (Store.claim).
    storm: StormView | None = None

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(d.id for d in self.deliveries)

    @property
    def storm_id(self) -> int | None:
        """The storm this job notifies about (None: an alert's own notification)."""
        if self.action not in STORM_ACTIONS and self.action not in STORM_ACTS:
            return None
        value = self.deliveries[0].snapshot.get("storm_id")
        return int(value) if value is not None else None


_D = DELIVERIES
_EARLIER = _D.alias("earlier")

# Statements built once; SQLAlchemy reuses their compiled form on every call.
# Literal state predicates, as the partial indexes say them (see models).
_IS_PENDING = text(PENDING_SQL)
_IS_IN_FLIGHT = text(IN_FLIGHT_SQL)
_IS_DEAD = text(DEAD_SQL)
_RELEASE_EXPIRED = (
    update(_D)
    .where(_IS_IN_FLIGHT, _D.c.claimed_until < bindparam("now"))
    .values(status="pending", claimed_by=None, claimed_until=None)
)
_RELEASE_WORKER = (
    update(_D)
    .where(_IS_IN_FLIGHT, _D.c.claimed_by == bindparam("worker"))
    .values(status="pending", claimed_by=None, claimed_until=None)
)
# A row waits while an earlier row of the same alert and channel is unfinished:
# a resolve never overtakes its trigger.
_BLOCKED = exists().where(
    _EARLIER.c.alert_id == _D.c.alert_id,
    _EARLIER.c.channel == _D.c.channel,
    _EARLIER.c.id < _D.c.id,
    _EARLIER.c.status.in_(UNFINISHED),
)
_SIBLING = _D.alias("sibling")
# Only the first pending row of a Slack batch is a candidate: whoever claims it
# claims the rest, so one notification's alerts stay one message however many
# workers and replicas claim at once.
_BATCH_FOLLOWER = exists().where(
    _SIBLING.c.batch_key == _D.c.batch_key,
    _SIBLING.c.id < _D.c.id,
    _SIBLING.c.status == "pending",
)
_CANDIDATES = (
    select(_D.c.id, _D.c.batch_key, _D.c.priority, _D.c.next_attempt_at)
    .where(
        _IS_PENDING,
        # One channel per query: the scan walks that channel's part of the
        # pending index only, so a backlog paced in another channel's queue (a
        # storm's pages) is never read.
        _D.c.channel == bindparam("channel"),
        _D.c.next_attempt_at <= bindparam("now"),
        ~_BLOCKED,
        ~_BATCH_FOLLOWER,
    )
    # The storm lane (priority 1) only when nothing else is due (bridge/storms.py).
    .order_by(_D.c.priority, _D.c.next_attempt_at, _D.c.id)
    .limit(bindparam("limit", type_=Integer))
)
# Replicas skip rows another is claiming instead of queueing behind it.
_CANDIDATES_PG = _CANDIDATES.with_for_update(skip_locked=True, of=_D)
_CLAIM = (
    update(_D)
    .where(_D.c.id.in_(bindparam("ids", expanding=True)), _D.c.status == "pending")
    .values(
        status="in_flight",
        claimed_by=bindparam("b_worker"),
        claimed_until=bindparam("b_until"),
        attempts=_D.c.attempts + 1,
    )
    .returning(_D.c.id)
)
_SIBLINGS = select(_D.c.id).where(_D.c.batch_key == bindparam("key"), _D.c.status == "pending")
# Another claimer may hold a sibling as its own candidate: skip it rather than
# wait, or the two transactions deadlock on each other's rows.
_SIBLINGS_PG = _SIBLINGS.with_for_update(skip_locked=True)
_LOAD = select(_D).where(_D.c.id.in_(bindparam("ids", expanding=True))).order_by(_D.c.id)


def release_claims_of(conn: Connection, worker: str) -> int:
    """Rows a worker that is known dead had claimed become pending again, without
    waiting for their lease."""
    return conn.execute(_RELEASE_WORKER, {"worker": worker}).rowcount or 0


def release_expired(conn: Connection, now: datetime) -> int:
    """Rows whose claimer died mid-delivery (lease over) become pending again."""
    return conn.execute(_RELEASE_EXPIRED, {"now": now}).rowcount or 0


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _claim_ids(conn: Connection, ids: list[int], worker: str, now: datetime) -> list[int]:
    """Compare-and-set: those of `ids` that were still pending are now ours."""
    if not ids:
        return []
    params = {"ids": ids, "b_worker": worker, "b_until": now + LEASE}
    return list(conn.execute(_CLAIM, params).scalars())


def _load(conn: Connection, ids: list[int]) -> list[Delivery]:
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
        for r in conn.execute(_LOAD, {"ids": ids})
    ]


def _siblings(conn: Connection, key: str) -> list[int]:
    """The other pending rows of a Slack batch (whoever claims the first claims these)."""
    query = _SIBLINGS_PG if _is_pg(conn) else _SIBLINGS
    return list(conn.execute(query, {"key": key}).scalars())


def slack_message_for(conn: Connection, alert_id: int) -> SlackMessage | None:
    row = conn.execute(
        select(AlertRow.slack_channel, AlertRow.slack_ts).where(AlertRow.id == alert_id)
    ).one_or_none()
    if row is None or not row.slack_ts or not row.slack_channel:
        return None
    members = list(
        conn.execute(
            select(AlertRow.__table__)
            .where(AlertRow.slack_ts == row.slack_ts, AlertRow.slack_channel == row.slack_channel)
            .order_by(AlertRow.fingerprint)
        )
    )
    responses = responses_for(conn, [(m.id, m.starts_at) for m in members])
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
                "alert_id": m.id,
                "paged": PAGERDUTY in (m.channels or []),
                "response": responses.get(m.id),
            }
            for m in members
        ),
    )


def any_due(conn: Connection, now: datetime, budgets: Mapping[str, int] | None = None) -> bool:
    """Is a row claimable now? A read, so an idle poll never queues for the write lock."""
    return bool(_candidates(conn, now, 1, budgets or {}, lock=False))


def _candidates(
    conn: Connection, now: datetime, limit: int, budgets: Mapping[str, int], lock: bool = True
) -> list[Any]:
    """The next due rows, normal lane first, oldest first, from every channel with budget left."""
    query = _CANDIDATES_PG if lock and _is_pg(conn) else _CANDIDATES
    rows: list[Any] = []
    for channel in CHANNELS:
        room = min(limit, budgets.get(channel, limit))
        if room > 0:
            params = {"now": now, "limit": room, "channel": channel}
            rows.extend(conn.execute(query, params).all())
    rows.sort(key=lambda r: (r.priority, r.next_attempt_at, r.id))
    return rows[:limit]


def claim(
    conn: Connection,
    worker: str,
    now: datetime,
    limit: int = 1,
    budgets: Mapping[str, int] | None = None,
) -> list[Job]:
    """Claim up to `limit` due jobs inside the caller's transaction.

    `budgets`: at most this many jobs of a channel (0: none), for rate pacing.
    """
    jobs: list[Job] = []
    for candidate in _candidates(conn, now, limit, budgets or {}):
        if not _claim_ids(conn, [candidate.id], worker, now):
            continue  # another worker won the race
        ids = [candidate.id]
        if candidate.batch_key is not None:
            ids += _claim_ids(conn, _siblings(conn, candidate.batch_key), worker, now)
        deliveries = _load(conn, ids)
        first = deliveries[0]
        message = None
        if first.channel == SLACK and first.action in THREADED_ACTIONS and first.alert_id:
            message = slack_message_for(conn, first.alert_id)
        job = Job(first.channel, first.action, tuple(deliveries), message)
        if job.storm_id is not None and job.action in STORM_ACTIONS:
            # Growth committed after this claim schedules the storm's next refresh.
            mark_claimed(conn, job.storm_id, job.channel, first.id, now)
        jobs.append(job)
    return jobs


def delivery_context(conn: Connection, delivery_id: int) -> dict[str, Any] | None:
    context = conn.execute(select(_D.c.context).where(_D.c.id == delivery_id)).scalar_one_or_none()
    return context if isinstance(context, dict) else None


_STATE_INDEXES = (
    ("pending", PENDING_SQL, "ix_deliveries_pending"),
    ("in_flight", IN_FLIGHT_SQL, "ix_deliveries_in_flight"),
    ("dead", DEAD_SQL, "ix_deliveries_dead"),
)


def _count_in_state(dialect: str, where: str, index: str) -> TextClause:
    # SQLite without statistics counts `status = '…'` by reading the whole
    # (alert_id, channel, status) index, every delivery ever kept (issue 23); the state's
    # partial index holds only that state's rows. PostgreSQL takes it unasked.
    hint = f" INDEXED BY {index}" if dialect == "sqlite" else ""
    return text(f"SELECT count(*) FROM deliveries{hint} WHERE {where}")  # noqa: S608 - constants


_DEPTH = {
    dialect: [
        (state, _count_in_state(dialect, where, index)) for state, where, index in _STATE_INDEXES
    ]
    for dialect in ("sqlite", "postgresql")
}


def outbox_depth(conn: Connection) -> dict[str, int]:
    return {
        state: int(conn.execute(statement).scalar_one())
        for state, statement in _DEPTH[conn.dialect.name]
    }


# Per channel and lane, so the earliest is the first entry of the pending index.
# ORDER BY + LIMIT rather than min(): PostgreSQL without statistics (right after a
# storm) aggregates min() over every row of the lane.
_NEXT_DUE = (
    select(_D.c.next_attempt_at)
    .where(
        _IS_PENDING, _D.c.channel == bindparam("channel"), _D.c.priority == bindparam("priority")
    )
    .order_by(_D.c.next_attempt_at)
    .limit(1)
)


def next_due(conn: Connection, paused: Sequence[str] = ()) -> datetime | None:
    """When the earliest pending row of a channel that is not paused comes due."""
    due = [
        conn.execute(_NEXT_DUE, {"channel": channel, "priority": lane}).scalar()
        for channel in CHANNELS
        if channel not in paused
        for lane in LANES
    ]
    return min((d for d in due if d is not None), default=None)


# A dead letter goes back to the queue at most once per death: the conditional
# WHERE makes two replicas (or two clicks) race for one row, and only one wins.
_REQUEUE_DEAD = (
    update(_D)
    .where(_D.c.id == bindparam("b_id"), _IS_DEAD)
    .values(
        status="pending",
        next_attempt_at=bindparam("b_now"),
        finished_at=None,
        claimed_by=None,
        claimed_until=None,
    )
)


def requeue_dead(conn: Connection, delivery_id: int, now: datetime) -> bool:
    """Put a dead delivery back in the outbox, due now; False when it was not dead."""
    params = {"b_id": delivery_id, "b_now": now}
    return bool(conn.execute(_REQUEUE_DEAD, params).rowcount)
