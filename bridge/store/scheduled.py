"""Database side of the periodic jobs: reminders, flap settling, retention.

Every write is a compare-and-set on the row it acts for, so replicas running
the same job at the same moment act once.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select, update

from bridge.db.models import (
    AlertRow,
    AmObservationRow,
    DeliveryRow,
    JobRunRow,
    OccurrenceRow,
    StormRow,
    TransitionRow,
    WindowRow,
)
from bridge.durations import format_duration
from bridge.flapping import FlapLimits, catch_up_action
from bridge.notify.notes import reminder_note, stable_note
from bridge.routing import HEARTBEAT, SLACK, Routing
from bridge.store.rows import add_delivery, add_transition

# Rows per retention transaction: each holds the write lock (SQLite) only as long as a
# batch takes (a few tens of ms for 200 deliveries and their attempts, or 200 alerts and
# their transitions, on a busy 2-core machine), so a webhook waits for one batch at most.
PURGE_BATCH = 200
# Bound one retention run; the next run continues where this one stopped.
PURGE_MAX_BATCHES = 500
# After each batch the purge waits as long as the batch took (at most this): neither a
# thread lock nor flock is fair, and a purge that began its next batch at once could take
# the write lock again ahead of a webhook that was waiting for it (issue 23 measured
# 440 ms behind back-to-back batches).
PURGE_MAX_PAUSE_SECONDS = 0.1


def due_reminders(conn: Connection, now: datetime, after: timedelta) -> int:
    """Critical alerts firing longer than `after` (and not reminded for as long) get one
    in their Slack thread."""
    due = conn.execute(
        select(AlertRow.__table__).where(
            AlertRow.status == "firing",
            AlertRow.severity == "critical",
            AlertRow.notified.is_(True),
            AlertRow.flapping_since.is_(None),
            AlertRow.starts_at <= now - after,
            # Counted from when the bridge raised it too: an alert that arrives already
            # hours old (the bridge was down) is not reminded right after its first message.
            AlertRow.last_change_at <= now - after,
            # A reminder is a reply in the alert's thread: there must be one.
            AlertRow.slack_ts.is_not(None),
            # Silenced or inhibited in Alertmanager (as the last reconcile saw it): muted
            # there means no reminder here either.
            ~select(AmObservationRow.fingerprint)
            .where(
                AmObservationRow.fingerprint == AlertRow.fingerprint,
                AmObservationRow.state == "suppressed",
            )
            .exists(),
        )
    ).all()
    created = 0
    for row in due:
        if SLACK not in (row.channels or []):
            continue
        if row.reminded_at is not None and row.reminded_at > now - after:
            continue
        guard = (
            AlertRow.reminded_at.is_(None)
            if row.reminded_at is None
            else AlertRow.reminded_at == row.reminded_at
        )
        won = conn.execute(
            update(AlertRow).where(AlertRow.id == row.id, guard).values(reminded_at=now)
        )
        if won.rowcount != 1:
            continue
        lasted = format_duration((now - row.starts_at).total_seconds())
        note = reminder_note(row.alertname, row.labels or {}, lasted)
        add_delivery(conn, row, SLACK, "reminder", now, note)
        created += 1
    return created


def settle_flapping(conn: Connection, routing: Routing, limits: FlapLimits, now: datetime) -> int:
    """Alerts calm for `limits.stable` stop flapping: one message, and a catch-up if needed."""
    calm = conn.execute(
        select(AlertRow.__table__).where(
            AlertRow.flapping_since.is_not(None),
            AlertRow.last_change_at <= now - limits.stable,
        )
    ).all()
    settled = 0
    for row in calm:
        won = conn.execute(
            update(AlertRow)
            .where(AlertRow.id == row.id, AlertRow.flapping_since == row.flapping_since)
            .values(flapping_since=None)
        )
        if won.rowcount != 1:
            continue
        changes = conn.execute(
            select(TransitionRow.id).where(
                TransitionRow.alert_id == row.id, TransitionRow.at >= row.flapping_since
            )
        ).all()
        channels = [c for c in routing.channels_for(row.labels) if c != HEARTBEAT]
        # A folded alert's storm incident stands for it: no page of its own.
        action = (
            None if row.storm_id is not None else catch_up_action(row.status, row.delivered_status)
        )
        if action is not None and channels:
            for channel in channels:
                add_delivery(conn, row, channel, action, now)
            conn.execute(
                update(AlertRow)
                .where(AlertRow.id == row.id)
                .values(
                    delivered_status=row.status,
                    channels=channels,
                    notified=row.status == "firing",
                )
            )
        add_transition(conn, row, row.status, "flapping_settled", now)
        if SLACK in channels:
            note = stable_note(
                row.alertname, row.labels or {}, row.status, len(changes), row.flapping_since
            )
            add_delivery(conn, row, SLACK, "flap_settled", now, note)
        settled += 1
    return settled


def purge_old(
    engine: Engine,
    cutoff: datetime,
    batch: int = PURGE_BATCH,
    max_batches: int = PURGE_MAX_BATCHES,
) -> dict[str, int]:
    """Delete finished history older than `cutoff`, `batch` rows per transaction."""
    counts = {
        "deliveries": 0,
        "alerts": 0,
        "job_runs": 0,
        "windows": 0,
        "occurrences": 0,
        "storms": 0,
    }
    targets = {
        "deliveries": select(DeliveryRow.id).where(
            DeliveryRow.status.in_(("delivered", "dry_run", "dead")),
            DeliveryRow.finished_at < cutoff,
        ),
        # Resolved alerts whose outbox is finished; transitions go with them (cascade).
        "alerts": select(AlertRow.id).where(
            AlertRow.status.in_(("resolved", "")),
            AlertRow.last_change_at < cutoff,
            ~select(DeliveryRow.id)
            .where(
                DeliveryRow.alert_id == AlertRow.id,
                DeliveryRow.status.in_(("pending", "in_flight")),
            )
            .exists(),
        ),
        "job_runs": select(JobRunRow.id).where(JobRunRow.slot < cutoff),
        "windows": select(WindowRow.id).where(
            or_(
                WindowRow.expired_at < cutoff,
                and_(WindowRow.cron.is_(None), WindowRow.ends_at < cutoff),
            )
        ),
        # Past occurrences of recurring windows that go on.
        "occurrences": select(OccurrenceRow.id).where(OccurrenceRow.ends_at < cutoff),
        # Storms over for that long, once no alert is listed with them (alerts go first).
        "storms": select(StormRow.id).where(
            StormRow.ended_at < cutoff,
            ~select(AlertRow.id).where(AlertRow.storm_id == StormRow.id).exists(),
        ),
    }
    models: dict[str, Any] = {
        "deliveries": DeliveryRow,
        "alerts": AlertRow,
        "job_runs": JobRunRow,
        "windows": WindowRow,
        "occurrences": OccurrenceRow,
        "storms": StormRow,
    }
    for name, query in targets.items():
        model = models[name]
        for _ in range(max_batches):
            started = time.monotonic()
            with engine.begin() as conn:
                ids = list(conn.execute(query.limit(batch)).scalars())
                if not ids:
                    break
                conn.execute(delete(model).where(model.id.in_(ids)))
            counts[name] += len(ids)
            time.sleep(min(time.monotonic() - started, PURGE_MAX_PAUSE_SECONDS))
    return counts
