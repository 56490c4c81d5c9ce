"""Storm incidents in the database: fold firings into one, schedule its notifications, end it.

Safe across replicas without check-then-insert: a storm is created by an insert that
the partial unique index on (alertname) WHERE ended_at IS NULL lets through once;
whoever loses finds the winner's row and updates it under its row lock (SQLite's
`BEGIN IMMEDIATE` serialises writers already). The storm's notifications are outbox
rows of its anchor alert (the first folded), so one storm's rows of a channel go out
in order. A channel's `*_pending` flag says a storm row is queued: growth adds a
refresh only when none is, due an interval after the last one was claimed.

A storm notifies every channel any of its folded alerts was routed to: severities of
one alert name route differently (a `warning` to Slack, a `critical` to PagerDuty
too), so a firing routed to a channel the storm does not notify yet opens the storm
there at once. A storm never loses a route.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Insert, Integer, bindparam, func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from bridge.db.models import (
    ALERTS,
    DELIVERIES,
    OPEN_STORM_SQL,
    STORM_RESPONSES,
    STORMS,
    TRANSITIONS,
)
from bridge.routing import PAGERDUTY, SLACK
from bridge.store.responses import acknowledge_joiners
from bridge.storm_view import FoldedAlert, StormView, most_severe
from bridge.storms import (
    NORMAL,
    PAGERDUTY_REFRESH,
    SLACK_REFRESH,
    StormLimits,
    folds,
    lanes,
    refresh_due,
    storm_over,
)

# Outbox actions of a storm: the first notification, a refresh, the end.
STORM_OPEN = "storm_open"
STORM_UPDATE = "storm_update"
STORM_END = "storm_end"
STORM_ACTIONS = (STORM_OPEN, STORM_UPDATE, STORM_END)
# Channels a storm notifies, and how often each may be refreshed.
REFRESH = {PAGERDUTY: PAGERDUTY_REFRESH, SLACK: SLACK_REFRESH}
_PENDING = {PAGERDUTY: "pagerduty_pending", SLACK: "slack_pending"}
_CLAIMED = {PAGERDUTY: "pagerduty_claimed_at", SLACK: "slack_claimed_at"}
# Tries at folding into a storm that another transaction ends or creates meanwhile.
FOLD_ATTEMPTS = 3

_S = STORMS.c
_T = TRANSITIONS.c
_IS_OPEN = text(OPEN_STORM_SQL)
# Changes of one alert name since a time, counted up to a cap: the scan stops at
# the cap however big the storm.
_CHANGES_SINCE = (
    select(func.count())
    .select_from(
        select(_T.id)
        .where(_T.alertname == bindparam("name"), _T.at >= bindparam("since"))
        .limit(bindparam("cap", type_=Integer))
        .subquery()
    )
    .scalar_subquery()
)
_OPEN_OF_NAME = (
    select(_S.id).where(_S.alertname == bindparam("name"), _IS_OPEN).limit(1).scalar_subquery()
)
_LAST_END_OF_NAME = (
    select(func.max(_S.ended_at)).where(_S.alertname == bindparam("name")).scalar_subquery()
)
# One statement per alert name of a post: its recent changes (is it storming?), its
# open storm, and when its last storm ended (a storm's changes do not count after it).
_NAME_STATE = select(_CHANGES_SINCE, _OPEN_OF_NAME, _LAST_END_OF_NAME)
_NAME_CHANGES = select(_CHANGES_SINCE)
# With who acknowledged it, if anyone did: alerts joining then are acknowledged with it
# (read in the same statement: this runs for every firing that folds).
_OPEN_STORM = (
    select(STORMS, STORM_RESPONSES.c.acked_by, STORM_RESPONSES.c.ack_source)
    .outerjoin(STORM_RESPONSES, STORM_RESPONSES.c.storm_id == _S.id)
    .where(_S.alertname == bindparam("name"), _IS_OPEN)
)
_STORM_ANY = select(STORMS).where(_S.id == bindparam("id"))
_STORM_ANY_PG = _STORM_ANY.with_for_update()
# The storm's row only: PostgreSQL locks no row of an outer join's nullable side.
_OPEN_STORM_PG = _OPEN_STORM.with_for_update(of=STORMS)


@dataclass(frozen=True)
class NameState:
    """What ingest needs to know of one alert name: changes in the window, its open storm."""

    changes: int
    open_storm: int | None


def name_state(conn: Connection, name: str, since: datetime, cap: int) -> NameState:
    """Changes of `name` since `since` (up to `cap`), not counting those before its last
    storm ended (an alert firing after a storm pages on its own), and its open storm."""
    row = conn.execute(_NAME_STATE, {"name": name, "since": since, "cap": cap}).one()
    changes, open_storm, last_end = row
    if last_end is not None and last_end > since and open_storm is None:
        params = {"name": name, "since": last_end, "cap": cap}
        changes = conn.execute(_NAME_CHANGES, params).scalar_one()
    return NameState(int(changes or 0), open_storm)


@dataclass(frozen=True)
class Lanes:
    """Per change of one post or job, in order: its lane, and whether a firing would fold."""

    lanes: list[int]
    folds: list[bool]
    states: dict[str, NameState]


class LaneAssigner:
    """The lane of each change, decided as changes are recorded one after another, and
    whether, were it a new firing, it folds into its name's storm. One query per alert
    name, on its first change."""

    def __init__(self, conn: Connection, limits: StormLimits, now: datetime) -> None:
        self._conn = conn
        self._limits = limits
        self._since = now - limits.window
        self.states: dict[str, NameState] = {}
        self._seen: dict[str, int] = {}

    def assign(self, name: str) -> tuple[int, bool]:
        if self._limits.max_changes <= 0:
            return NORMAL, False
        state = self.states.get(name)
        if state is None:
            state = name_state(self._conn, name, self._since, self._limits.max_changes)
            self.states[name] = state
        earlier = self._seen.get(name, state.changes)
        self._seen[name] = earlier + 1
        lane = lanes([name], {name: earlier}, self._limits)[0]
        return lane, folds(name, lane, state.open_storm is not None, self._limits)


def storm_lanes(
    conn: Connection, names: Sequence[str], limits: StormLimits, now: datetime
) -> Lanes:
    """The lane of each change of `names` (in order), and whether, were it a new firing, it
    folds into its name's storm. One query per alert name."""
    assigner = LaneAssigner(conn, limits, now)
    decided = [assigner.assign(name) for name in names]
    return Lanes([d[0] for d in decided], [d[1] for d in decided], assigner.states)


_SET_STORM = (
    update(ALERTS).where(ALERTS.c.id == bindparam("b_id")).values(storm_id=bindparam("b_storm"))
)


@lru_cache(maxsize=4)
def _insert_storm(dialect: str) -> Insert:
    # No conflict target: the conflict is with the partial unique index of open storms.
    stmt: Any = (postgresql if dialect == "postgresql" else sqlite).insert(STORMS)
    result: Insert = stmt.on_conflict_do_nothing().returning(_S.id)
    return result


def _storm_snapshot(
    storm_id: int, name: str, severity: str, started_at: datetime
) -> dict[str, Any]:
    """An outbox snapshot for a storm row: the storm's id, and the fields every row has."""
    return {
        "storm_id": storm_id,
        "status": "firing",
        "labels": {"alertname": name, "severity": severity},
        "annotations": {"summary": f"{name} storm (storm incident {storm_id})"},
        "starts_at": started_at.isoformat(),
        "ends_at": None,
        "generator_url": "",
        "fingerprint": f"storm/{storm_id}",
        "group_key": "",
        "receiver": "",
    }


def _storm_delivery(
    storm: dict[str, Any], severity: str, channel: str, action: str, due: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "alert_id": storm["anchor_alert_id"],
        "channel": channel,
        "action": action,
        "status": "pending",
        "batch_key": None,
        "starts_at": storm["started_at"],
        "snapshot": _storm_snapshot(storm["id"], storm["alertname"], severity, storm["started_at"]),
        "context": None,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": now,
        "priority": 0,
    }


# Acts on a storm from Slack or PagerDuty (bridge/interact): its Slack message updated
# with what people did (and a thread line), and PagerDuty's `acknowledge`. Not refreshes:
# they leave the pending flags and the refresh pacing alone.
STORM_STATE = "storm_state"
STORM_ACK = "storm_ack"
STORM_ACTS = (STORM_STATE, STORM_ACK)


# An act is claimed only after the storm's earlier rows of its channel (the outbox never
# lets a row overtake an earlier one of its alert and channel), and a refresh may be
# waiting up to PAGERDUTY_REFRESH for its pacing slot: meanwhile PagerDuty goes on
# escalating an incident someone acknowledged. What waits goes now, once per act.
_HURRY_QUEUED = (
    update(DELIVERIES)
    .where(
        DELIVERIES.c.alert_id == bindparam("b_anchor"),
        DELIVERIES.c.channel == bindparam("b_channel"),
        DELIVERIES.c.action.in_(STORM_ACTIONS),
        text("status = 'pending'"),
        DELIVERIES.c.next_attempt_at > bindparam("b_now"),
    )
    .values(next_attempt_at=bindparam("b_now"))
)


def add_storm_act(
    conn: Connection,
    storm: Any,
    severity: str,
    channel: str,
    action: str,
    now: datetime,
    note: str | None = None,
) -> None:
    """Queue an act's notification of `storm` (a storms row), due now, with whatever of
    the storm waits ahead of it on that channel."""
    queued = {"b_anchor": storm.anchor_alert_id, "b_channel": channel, "b_now": now}
    conn.execute(_HURRY_QUEUED, queued)
    row = _storm_delivery(dict(storm._mapping), severity, channel, action, now, now)
    if note is not None:
        row["snapshot"]["note"] = note
    conn.execute(insert(DELIVERIES), [row])


@dataclass(frozen=True)
class Folded:
    storm_id: int
    notifications: int  # outbox rows added


def fold_into_storm(
    conn: Connection,
    name: str,
    alert_ids: Sequence[int],
    severity: str,
    channels: Sequence[str],
    now: datetime,
    open_storm: int | None,
) -> Folded:
    """Fold these firings (rows already written) into `name`'s open storm, or open one,
    and point the alerts at it (when it is not the one they were written with).

    `channels`: every channel these firings were routed to (the storm notifies them
    all); `severity`: the most severe of theirs. `open_storm`: the open storm ingest
    saw (None: try to open one first).
    """
    channels = [c for c in channels if c in REFRESH]
    pg = conn.dialect.name == "postgresql"
    try_insert = open_storm is None
    for _ in range(FOLD_ATTEMPTS):
        if try_insert:
            values = {
                "alertname": name,
                "started_at": now,
                "last_fired_at": now,
                "fired_count": len(alert_ids),
                "anchor_alert_id": alert_ids[0],
                "channels": list(channels),
                "pagerduty_pending": PAGERDUTY in channels,
                "slack_pending": SLACK in channels,
                "slack_nodes": [],
            }
            created = conn.execute(_insert_storm(conn.dialect.name), values).scalar()
            if created is not None:
                storm = {**values, "id": created}
                rows = [_storm_delivery(storm, severity, c, STORM_OPEN, now, now) for c in channels]
                if rows:
                    conn.execute(insert(DELIVERIES), rows)
                _point_at(conn, alert_ids, created, open_storm)
                return Folded(created, len(rows))
        # An open storm exists: lock it (it may end or be refreshed concurrently).
        found = conn.execute(_OPEN_STORM_PG if pg else _OPEN_STORM, {"name": name}).one_or_none()
        if found is None:
            try_insert = True  # it ended meanwhile: open a new one
            continue
        _point_at(conn, alert_ids, found.id, open_storm)
        if found.acked_by is not None:
            acknowledge_joiners(conn, alert_ids, found.acked_by, found.ack_source, now)
        return _grow(conn, dict(found._mapping), len(alert_ids), severity, channels, now)
    raise RuntimeError(f"could not fold into a storm of {name} after {FOLD_ATTEMPTS} tries")


def _point_at(
    conn: Connection, alert_ids: Sequence[int], storm_id: int, written: int | None
) -> None:
    if storm_id != written:
        conn.execute(_SET_STORM, [{"b_id": i, "b_storm": storm_id} for i in alert_ids])


def _grow(
    conn: Connection,
    storm: dict[str, Any],
    count: int,
    severity: str,
    channels: Sequence[str],
    now: datetime,
) -> Folded:
    """Count `count` new firings (0: folded alerts resolved) routed to `channels`: open
    the storm at once on each of those it does not notify yet, and schedule a refresh on
    each other channel that has none queued."""
    known = list(storm["channels"] or [])
    added = [c for c in channels if c in REFRESH and c not in known]
    changes: dict[str, Any] = {}
    if count:
        changes = {"fired_count": storm["fired_count"] + count, "last_fired_at": now}
    if added:
        changes["channels"] = known + added
    rows = []
    for channel in added:
        changes[_PENDING[channel]] = True
        rows.append(_storm_delivery(storm, severity, channel, STORM_OPEN, now, now))
    for channel in known:
        if channel in REFRESH and not storm[_PENDING[channel]]:
            changes[_PENDING[channel]] = True
            due = refresh_due(storm[_CLAIMED[channel]], now, REFRESH[channel])
            rows.append(_storm_delivery(storm, severity, channel, STORM_UPDATE, due, now))
    if changes:
        conn.execute(update(STORMS).where(_S.id == storm["id"]).values(changes))
    if rows:
        conn.execute(insert(DELIVERIES), rows)
    return Folded(storm["id"], len(rows))


_STORM_BY_ID = select(STORMS).where(_S.id == bindparam("id"), _IS_OPEN)
_STORM_BY_ID_PG = _STORM_BY_ID.with_for_update()


def refresh_after_resolves(conn: Connection, storm_id: int, severity: str, now: datetime) -> int:
    """Folded alerts resolved: refresh the storm's details (what still fires) in time."""
    pg = conn.dialect.name == "postgresql"
    found = conn.execute(_STORM_BY_ID_PG if pg else _STORM_BY_ID, {"id": storm_id}).one_or_none()
    if found is None:
        return 0  # over already
    return _grow(conn, dict(found._mapping), 0, severity, (), now).notifications


_D = DELIVERIES.c
# A storm row of the same storm and channel queued after this one (by growth while this
# one waited for a retry): the pending flag stands for it.
_LATER_PENDING = select(_D.id).where(
    _D.alert_id == bindparam("anchor"),
    _D.channel == bindparam("channel"),
    _D.id > bindparam("id"),
    _D.action.in_(STORM_ACTIONS),
    text("status = 'pending'"),
)


def mark_claimed(
    conn: Connection, storm_id: int, channel: str, delivery_id: int, now: datetime
) -> None:
    """A storm row of `channel` was claimed: growth from now on schedules the next refresh,
    `REFRESH[channel]` after now (unless a later refresh is queued already)."""
    if channel not in REFRESH:
        return
    pg = conn.dialect.name == "postgresql"
    # Under the storm's row lock, as ingest schedules refreshes: the flag and the rows agree.
    storm = conn.execute(_STORM_ANY_PG if pg else _STORM_ANY, {"id": storm_id}).one_or_none()
    if storm is None:
        return
    values: dict[str, Any] = {_CLAIMED[channel]: now}
    later = {"anchor": storm.anchor_alert_id, "channel": channel, "id": delivery_id}
    if conn.execute(_LATER_PENDING, later).first() is None:
        values[_PENDING[channel]] = False
    conn.execute(update(STORMS).where(_S.id == storm_id).values(values))


def record_slack_message(
    conn: Connection, storm_id: int, channel: str, ts: str, nodes: Sequence[str]
) -> None:
    """The storm's Slack message, and the nodes it has announced so far."""
    conn.execute(
        update(STORMS)
        .where(_S.id == storm_id)
        .values(slack_channel=channel, slack_ts=ts, slack_nodes=list(nodes))
    )


_A = ALERTS.c
_FOLDED_ALERTS = select(
    _A.fingerprint, _A.node, _A.status, _A.severity, _A.labels, _A.annotations
).where(_A.storm_id == bindparam("storm"))


def load_view(conn: Connection, storm_id: int) -> StormView | None:
    storm = conn.execute(select(STORMS).where(_S.id == storm_id)).one_or_none()
    if storm is None:
        return None
    alerts = []
    severities = []
    for row in conn.execute(_FOLDED_ALERTS, {"storm": storm_id}):
        severities.append(row.severity)
        alerts.append(
            FoldedAlert(
                fingerprint=row.fingerprint,
                node=row.node,
                gpu=str((row.labels or {}).get("gpu", "")),
                status=row.status,
                value=str((row.annotations or {}).get("value", "")),
            )
        )
    return StormView(
        id=storm.id,
        alertname=storm.alertname,
        # A storm is as severe as its most severe alert: a critical among warnings pages
        # as critical.
        severity=most_severe(severities) or "critical",
        started_at=storm.started_at,
        ended_at=storm.ended_at,
        last_fired_at=storm.last_fired_at,
        fired_count=storm.fired_count,
        alerts=tuple(alerts),
        slack_channel=storm.slack_channel,
        slack_ts=storm.slack_ts,
        slack_nodes=tuple(storm.slack_nodes or ()),
    )


_STILL_FIRING = (
    select(ALERTS.c.id)
    .where(ALERTS.c.storm_id == bindparam("storm"), ALERTS.c.status == "firing")
    .limit(1)
)


def end_storms(conn: Connection, window: timedelta, now: datetime) -> int:
    """End every open storm with no firing for `window` and nothing folded still firing."""
    quiet = conn.execute(
        select(STORMS).where(_IS_OPEN, _S.last_fired_at <= now - window).order_by(_S.id)
    ).all()
    ended = 0
    for storm in quiet:
        firing = conn.execute(_STILL_FIRING, {"storm": storm.id}).first() is not None
        if not storm_over(storm.last_fired_at, int(firing), now, window):
            continue
        # Compare-and-set: a firing folded meanwhile (or another replica) wins.
        won = conn.execute(
            update(STORMS)
            .where(_S.id == storm.id, _IS_OPEN, _S.last_fired_at == storm.last_fired_at)
            .values(ended_at=now)
        )
        if won.rowcount != 1:
            continue
        severity = conn.execute(
            select(ALERTS.c.severity).where(ALERTS.c.id == storm.anchor_alert_id)
        ).scalar()
        row = dict(storm._mapping)
        rows = [
            _storm_delivery(row, severity or "critical", c, STORM_END, now, now)
            for c in storm.channels or []
            if c in REFRESH
        ]
        if rows:
            # Their foreign key takes KEY SHARE on the anchor, which the FOR NO KEY
            # UPDATE of a post holding it lets through (store/alert_rows.py): the end
            # never waits for a post that waits for this storm.
            conn.execute(insert(DELIVERIES), rows)
        ended += 1
    return ended
