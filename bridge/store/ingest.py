"""Record webhook payloads: state, transitions and outbox rows in one transaction.

`ingest_many` records several payloads (concurrent requests committed together,
store/group_commit.py) as if one had followed the other, with each statement run once
for all of them, in stages that pass values on:

1. lock: the payloads' known alerts, read and locked (store/alert_rows);
2. decide: for every alert, the pure dedup decision, maintenance windows, flap control,
   its route and lane, and whether it folds into its name's storm (store/ingest_decide);
   the result is each alert's new row, the changes to append and a verdict per alert;
3. write: the alerts table once (the new rows' ids come back);
4. fold: each storming name's new firings into its storm, which notifies every channel
   any of them was routed to (store/storm_rows.py);
5. append: transitions, and outbox rows, each in its lane (bridge/storms.py).

`InsertRace` (another replica created one of these alerts first) asks the caller to run
it again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert

from bridge.alerts import WebhookPayload
from bridge.db.models import DELIVERIES, TRANSITIONS
from bridge.dedup import Action
from bridge.flapping import FlapLimits
from bridge.routing import Routing
from bridge.store.alert_rows import NAME_CHARS, SEVERITY_CHARS, lock_rows, write_rows
from bridge.store.ingest_decide import Verdict, decide_all
from bridge.store.ingest_result import IngestResult
from bridge.store.ingest_rows import (
    Change,
    delivery_rows,
    group_slack_triggers,
    snapshot,
    transition_row,
)
from bridge.store.storm_rows import NameState, fold_into_storm, refresh_after_resolves
from bridge.storm_view import most_severe
from bridge.storms import DEFAULT_LIMITS, StormLimits

_INSERT_TRANSITION = insert(TRANSITIONS)
_INSERT_DELIVERY = insert(DELIVERIES)


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
    if not any(ordered):
        return [_result(len(alerts), [], [], 0) for alerts in ordered]
    stored = lock_rows(conn, list({a.fingerprint for alerts in ordered for a in alerts}))
    senders = [p.external_url for p in payloads]
    decided = decide_all(conn, ordered, stored, routing, now, limits, storm, senders)
    ids = write_rows(conn, decided.rows, stored)
    changes = decided.changes
    notifications = _fold_storms(conn, changes, ids, decided.storms, now)
    if changes:
        transitions = [transition_row(c, ids[c.alert.fingerprint], now) for c in changes]
        conn.execute(_INSERT_TRANSITION, transitions)
    deliveries: list[dict[str, Any]] = []
    for index, payload in enumerate(payloads):
        mine = group_slack_triggers(
            [
                d
                for c in changes
                if c.payload == index
                for d in delivery_rows(c, ids[c.alert.fingerprint], payload, now)
            ]
        )
        deliveries += mine
        notifications[index] = notifications.get(index, 0) + len(mine)
    if deliveries:
        conn.execute(_INSERT_DELIVERY, deliveries)
    verdicts: list[list[Verdict]] = [[] for _ in payloads]
    for verdict in decided.verdicts:
        verdicts[verdict.payload].append(verdict)
    changed: list[list[Change]] = [[] for _ in payloads]
    for change in changes:
        changed[change.payload].append(change)
    return [
        _result(len(alerts), verdicts[i], changed[i], notifications.get(i, 0))
        for i, alerts in enumerate(ordered)
    ]


def _result(
    received: int, verdicts: Sequence[Verdict], changes: Sequence[Change], notifications: int
) -> IngestResult:
    """One payload's answer: its counts and each alert's decision."""
    return IngestResult(
        received=received,
        new=sum(v.action is Action.NOTIFY_FIRING for v in verdicts),
        duplicates=sum(v.action is Action.IGNORE for v in verdicts),
        resolved=sum(v.action is not Action.IGNORE and not v.firing for v in verdicts),
        notifications=notifications,
        decisions=tuple((v.fingerprint, v.reason) for v in verdicts),
        suppressed=sum(v.muted for v in verdicts),
        folded=sum(c.folded for c in changes),
    )


def _fold_storms(
    conn: Connection,
    changes: Sequence[Change],
    ids: Mapping[str, int],
    states: Mapping[str, NameState],
    now: datetime,
) -> dict[int, int]:
    """Fold each storming name's new firings into its storm, and refresh the storms whose
    folded alerts resolved. Returns the storm notifications per payload index (counted on
    the first payload that caused each).

    Locks (PostgreSQL): every alert this post touches is locked already (stage 1, FOR NO
    KEY UPDATE), before any storm. The storms it saw open are locked in id order, then
    new ones are opened in name order. Holding storms, it locks only its own alerts and
    takes KEY SHARE on the storm's anchor (the foreign key of the storm's outbox rows),
    which another post holding the anchor lets through. So two posts wait on each other's
    storms in a circle only when a storm this post did not see open was opened meanwhile:
    it is locked when found, out of id order, and PostgreSQL fails one post (a 503,
    which Alertmanager retries)."""
    by_name: dict[str, list[Change]] = {}
    for change in changes:
        if change.folded:
            by_name.setdefault(change.alert.name[:NAME_CHARS], []).append(change)
    resolved: dict[int, str] = {}
    resolved_by: dict[int, int] = {}
    for c in changes:
        if not c.alert.firing and c.storm_id is not None:
            resolved[c.storm_id] = c.alert.severity[:SEVERITY_CHARS]
            resolved_by.setdefault(c.storm_id, c.payload)
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
        alert_ids = list(dict.fromkeys(ids[c.alert.fingerprint] for c in work))
        # Every route of every firing folded: a critical among warnings still pages.
        channels = list(dict.fromkeys(ch for c in work for ch in c.folded_channels or ()))
        severity = most_severe(c.alert.severity[:SEVERITY_CHARS] for c in work) or ""
        result = fold_into_storm(
            conn, name, alert_ids, severity, channels, now, states[name].open_storm
        )
        first = work[0].payload
        notifications[first] = notifications.get(first, 0) + result.notifications
    return notifications


__all__ = ["IngestResult", "ingest", "ingest_many", "snapshot"]
