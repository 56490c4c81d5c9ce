"""Record webhook payloads: state, transitions and outbox rows in one transaction.

`ingest_many` records several payloads (concurrent requests committed together,
store/group_commit.py) as if one had followed the other, with each statement run once
for all of them. The payloads' known alerts are locked first (store/alert_rows). Then,
for every alert, the pure dedup decision, maintenance windows and flap control decide
what happens; the alerts table is written once, and transitions and outbox rows are
appended, each outbox row in its lane (bridge/storms.py); the new firings of a storming
alert name are folded into its storm incident instead (store/storm_rows.py).
`InsertRace` (another replica created one of these alerts first) asks the caller to run
it again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select

from bridge.alerts import Alert, WebhookPayload
from bridge.db.models import DELIVERIES, TRANSITIONS, TransitionRow
from bridge.dedup import Action, Decision, decide
from bridge.durations import format_duration
from bridge.flapping import FlapLimits, starts_flapping
from bridge.notify.notes import flap_note
from bridge.routing import HEARTBEAT, SLACK, Routing
from bridge.silences.matching import mutes
from bridge.store.alert_rows import (
    NAME_CHARS,
    SEVERITY_CHARS,
    lock_rows,
    previous_state,
    unseen_row,
    write_rows,
)
from bridge.store.ingest_result import IngestResult, Tally
from bridge.store.ingest_rows import (
    Change,
    delivery_rows,
    group_slack_triggers,
    snapshot,
    transition_row,
)
from bridge.store.storm_rows import (
    LaneAssigner,
    NameState,
    fold_into_storm,
    refresh_after_resolves,
)
from bridge.store.windows import ActiveWindow, active_windows
from bridge.storms import DEFAULT_LIMITS, NORMAL, StormLimits

_INSERT_TRANSITION = insert(TRANSITIONS)
_INSERT_DELIVERY = insert(DELIVERIES)


def _recent_changes(conn: Connection, alert_id: int, since: datetime) -> int:
    return int(
        conn.execute(
            select(func.count())
            .select_from(TransitionRow)
            .where(TransitionRow.alert_id == alert_id, TransitionRow.at >= since)
        ).scalar_one()
    )


def _flap_check(
    conn: Connection,
    row: dict[str, Any],
    decision: Decision,
    limits: FlapLimits,
    now: datetime,
    unwritten: int = 0,
) -> tuple[Decision, int]:
    """While flapping, a notifying decision is only recorded.

    `unwritten`: the alert's changes earlier in this ingest, not in the table yet.
    Returns the decision and, when flapping starts now, the number of changes
    that started it (else 0).
    """
    if not decision.notifies:
        return decision, 0
    if row["flapping_since"] is not None:
        return Decision(Action.RECORD, f"flapping_{decision.reason}"), 0
    stored = _recent_changes(conn, row["id"], now - limits.window) if row["id"] else 0
    changes = stored + unwritten + 1
    if starts_flapping(changes, limits):
        return Decision(Action.RECORD, f"flapping_started_{decision.reason}"), changes
    return decision, 0


def _flap_note(alert: Alert, changes: int, limits: FlapLimits) -> str:
    window = format_duration(limits.window.total_seconds())
    stable = format_duration(limits.stable.total_seconds())
    return flap_note(alert.name, alert.labels, changes, window, stable)


def ingest(
    conn: Connection,
    payload: WebhookPayload,
    routing: Routing,
    now: datetime,
    limits: FlapLimits | None = None,
    storm: StormLimits = DEFAULT_LIMITS,
) -> IngestResult:
    """Record every alert of `payload` inside the caller's transaction."""
    return ingest_many(conn, [payload], routing, now, limits, storm)[0]


def ingest_many(
    conn: Connection,
    payloads: Sequence[WebhookPayload],
    routing: Routing,
    now: datetime,
    limits: FlapLimits | None = None,
    storm: StormLimits = DEFAULT_LIMITS,
) -> list[IngestResult]:
    """Record `payloads` in order inside the caller's transaction: one result each, the
    same as ingesting them one after another."""
    ordered = [
        sorted(p.alerts, key=lambda a: (a.fingerprint, a.starts_at, a.status)) for p in payloads
    ]
    tallies = [Tally(received=len(alerts)) for alerts in ordered]
    if not any(ordered):
        return [t.result() for t in tallies]
    unique = list({a.fingerprint: a for alerts in ordered for a in alerts}.values())
    rows = lock_rows(conn, [a.fingerprint for a in unique])
    stored = {fingerprint: dict(row) for fingerprint, row in rows.items()}
    for alert in unique:
        rows.setdefault(alert.fingerprint, unseen_row(alert, now))

    changes: list[Change] = []
    unwritten: dict[str, int] = {}  # changes per fingerprint so far, for flap control
    lanes = LaneAssigner(conn, storm, now)
    windows: list[ActiveWindow] | None = None
    for index, alerts in enumerate(ordered):
        tally = tallies[index]
        for alert in alerts:
            row = rows[alert.fingerprint]
            previous = previous_state(row)
            decision = decide(previous, alert)
            muted_by = None
            if decision.action is Action.NOTIFY_FIRING:
                windows = active_windows(conn, now) if windows is None else windows
                muted_by = next(
                    (w.window_id for w in windows if mutes(w.matchers, alert.labels)), None
                )
                if muted_by is not None:
                    tally.suppressed += 1
                    decision = Decision(Action.RECORD, f"suppressed_{decision.reason}")
            flap_changes = 0
            if limits is not None and muted_by is None and previous is not None:
                decision, flap_changes = _flap_check(
                    conn, row, decision, limits, now, unwritten.get(alert.fingerprint, 0)
                )
            tally.decisions.append((alert.fingerprint, decision.reason))
            row["received_count"] += 1
            row["last_seen_at"] = now
            if decision.action is Action.IGNORE:
                tally.duplicates += 1
                row["duplicate_count"] += 1
                continue
            tally.new += decision.action is Action.NOTIFY_FIRING
            tally.resolved += not alert.firing
            channels = _channels(decision, alert, row, routing)
            _apply(row, alert, decision, channels, now, muted_by)
            change = Change(row, alert, decision, channels, payload=index)
            if flap_changes and limits is not None:
                row["flapping_since"] = now
                if SLACK in routing.channels_for(alert.labels):
                    change.flap_note = _flap_note(alert, flap_changes, limits)
            # Decided now, not after the loop: a later change of this alert (in another
            # payload of the batch) must find it folded or not.
            if change.channels or change.flap_note:
                _assign_lane(change, lanes)
            changes.append(change)
            unwritten[alert.fingerprint] = unwritten.get(alert.fingerprint, 0) + 1

    write_rows(conn, rows, stored)
    for index, count in _fold_storms(conn, changes, lanes.states, now).items():
        tallies[index].notifications += count
    if changes:
        conn.execute(_INSERT_TRANSITION, [transition_row(c, now) for c in changes])
    deliveries: list[dict[str, Any]] = []
    for index, payload in enumerate(payloads):
        mine = [d for c in changes if c.payload == index for d in delivery_rows(c, payload, now)]
        group_slack_triggers(mine)
        deliveries += mine
        tallies[index].notifications += len(mine)
    if deliveries:
        conn.execute(_INSERT_DELIVERY, deliveries)
    for change in changes:
        tallies[change.payload].folded += change.folded_channels is not None
    return [t.result() for t in tallies]


def _assign_lane(change: Change, storms: LaneAssigner) -> None:
    """Storm-lane a notifying change of an alert name that is storming (bridge/storms.py),
    and fold it into the storm if it is a new firing of a name that folds."""
    lane, folding = storms.assign(change.row["alertname"])
    change.priority = lane
    if folding and change.decision.action is Action.NOTIFY_FIRING:
        _fold_change(change, storms.states[change.row["alertname"]].open_storm)


def _fold_change(change: Change, storm_id: int | None) -> None:
    """Not paged on its own: its storm's notifications stand for it."""
    change.folded_channels = change.channels
    change.channels = []
    change.priority = NORMAL
    change.decision = Decision(change.decision.action, f"storm_folded_{change.decision.reason}")
    change.row.update(channels=[], notified=False, delivered_status=None, storm_id=storm_id)


def _fold_storms(
    conn: Connection, changes: list[Change], states: dict[str, NameState], now: datetime
) -> dict[int, int]:
    """Fold each storming name's new firings into its storm, and refresh the storms whose
    folded alerts resolved. Storms are locked in id order (new ones last), so concurrent
    posts never wait on each other's storms in a circle. Returns the storm notifications
    per payload index (counted on the first payload that caused each)."""
    by_name: dict[str, list[Change]] = {}
    for change in changes:
        if change.folded_channels is not None:
            by_name.setdefault(change.row["alertname"], []).append(change)
    resolved: dict[int, str] = {}
    resolved_by: dict[int, int] = {}
    for c in changes:
        if not c.alert.firing and c.row.get("storm_id") is not None:
            resolved[c.row["storm_id"]] = c.alert.severity[:SEVERITY_CHARS]
            resolved_by.setdefault(c.row["storm_id"], c.payload)
    grown = {states[name].open_storm for name in by_name}
    steps: list[tuple[float, str, Any]] = [
        (states[name].open_storm or math.inf, name, by_name[name]) for name in by_name
    ]
    steps += [(storm_id, "", storm_id) for storm_id in set(resolved) - grown]
    notifications: dict[int, int] = {}
    for _, name, work in sorted(steps, key=lambda step: (step[0], step[1])):
        if not name:
            count = refresh_after_resolves(conn, work, resolved[work], now)
            notifications[resolved_by[work]] = notifications.get(resolved_by[work], 0) + count
            continue
        ids = list(dict.fromkeys(c.row["id"] for c in work))
        first = work[0]
        result = fold_into_storm(
            conn,
            name,
            ids,
            first.alert.severity[:SEVERITY_CHARS],
            first.folded_channels or [],
            now,
            states[name].open_storm,
        )
        notifications[first.payload] = notifications.get(first.payload, 0) + result.notifications
        for change in work:
            change.row["storm_id"] = result.storm_id
    return notifications


def _channels(decision: Decision, alert: Alert, row: dict[str, Any], routing: Routing) -> list[str]:
    if decision.action is Action.NOTIFY_FIRING:
        return [c for c in routing.channels_for(alert.labels) if c != HEARTBEAT]
    if decision.action is Action.NOTIFY_RESOLVED:
        return list(row["channels"] or [])
    return []


def _apply(
    row: dict[str, Any],
    alert: Alert,
    decision: Decision,
    channels: list[str],
    now: datetime,
    muted_by: str | None = None,
) -> None:
    """The alert's new stored state after a state-changing decision (in place)."""
    row.update(
        status=alert.status,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        alertname=alert.name[:NAME_CHARS],
        severity=alert.severity[:SEVERITY_CHARS],
        node=alert.node[:NAME_CHARS],
        labels=alert.labels,
        annotations=alert.annotations,
        generator_url=alert.generator_url,
        last_change_at=now,
    )
    if decision.action is Action.NOTIFY_FIRING:
        row.update(
            channels=channels,
            notified=bool(channels),
            slack_ts=None,
            slack_channel=None,
            suppressed_by=None,
            reminded_at=None,
            delivered_status="firing" if channels else None,
            storm_id=None,
        )
    elif decision.action is Action.NOTIFY_RESOLVED and channels:
        row.update(delivered_status="resolved")
    elif muted_by is not None:
        # Held back by a maintenance window; released if it still fires afterwards.
        row.update(channels=[], notified=False, suppressed_by=muted_by, slack_ts=None)
    elif not alert.firing and decision.action is Action.RECORD:
        row.update(channels=[], notified=False, suppressed_by=None)


__all__ = ["IngestResult", "ingest", "ingest_many", "snapshot"]
