"""The decide stage of an ingest: what happens to each alert, as values.

For every alert, in order: the pure dedup decision, maintenance windows and flap control;
then, for a change that notifies, its route (bridge/routing.py) and its lane, and whether
it folds into its name's storm (bridge/storms.py). The stage reads the database (windows,
recent changes, storm state) and writes nothing; it returns each alert's new row, the
changes to append and a verdict per alert, for the write stages in store/ingest.py.
Each alert's row is replaced by a new mapping at each change, never changed in place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from bridge.alerts import Alert
from bridge.db.models import TransitionRow
from bridge.dedup import Action, Decision, decide
from bridge.durations import format_duration
from bridge.flapping import FlapLimits, starts_flapping
from bridge.notify.notes import flap_note
from bridge.routing import HEARTBEAT, SLACK, Routing
from bridge.silences.matching import mutes
from bridge.store.alert_rows import NAME_CHARS, SEVERITY_CHARS, previous_state, unseen_row
from bridge.store.ingest_rows import Change
from bridge.store.storm_rows import LaneAssigner, NameState
from bridge.store.windows import ActiveWindow, active_windows
from bridge.storms import NORMAL, StormLimits

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    """What was decided for one alert of one payload, changed or not: its request's answer."""

    payload: int
    fingerprint: str
    reason: str  # before storm folding: the request says what dedup decided
    action: Action
    firing: bool
    muted: bool


@dataclass(frozen=True)
class Decided:
    """Every alert's new row (by fingerprint), the changes to append in order, a verdict
    per alert, and what the ingest learnt of each storming alert name."""

    rows: Mapping[str, Row]
    changes: tuple[Change, ...]
    verdicts: tuple[Verdict, ...]
    storms: Mapping[str, NameState]


@dataclass(frozen=True)
class _Routed:
    """A notifying change's way out: on its own, or folded into its name's storm."""

    decision: Decision
    channels: tuple[str, ...]
    priority: int = 0
    folded_channels: tuple[str, ...] | None = None
    storm_id: int | None = None


def decide_all(
    conn: Connection,
    ordered: Sequence[Sequence[Alert]],
    stored: Mapping[str, Row],
    routing: Routing,
    now: datetime,
    limits: FlapLimits | None,
    storm: StormLimits,
    senders: Sequence[str] = (),
) -> Decided:
    """Decide every alert of `ordered` (per payload, in order), as if each payload had been
    ingested after the one before it. `stored`: the known alerts' rows, locked; `senders`:
    each payload's externalURL ('' for reconciliation's own payloads, which name nobody)."""
    unique = {a.fingerprint: a for alerts in ordered for a in alerts}
    rows: dict[str, Row] = {
        fp: stored[fp] if fp in stored else unseen_row(alert, now) for fp, alert in unique.items()
    }
    changes: list[Change] = []
    verdicts: list[Verdict] = []
    unwritten: dict[str, int] = {}  # changes per fingerprint so far, for flap control
    lanes = LaneAssigner(conn, storm, now)
    windows: list[ActiveWindow] | None = None
    for index, alerts in enumerate(ordered):
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
                    decision = Decision(Action.RECORD, f"suppressed_{decision.reason}")
            flap_changes = 0
            if limits is not None and muted_by is None and previous is not None:
                decision, flap_changes = _flap_check(
                    conn, row, decision, limits, now, unwritten.get(alert.fingerprint, 0)
                )
            verdicts.append(
                Verdict(
                    index,
                    alert.fingerprint,
                    decision.reason,
                    decision.action,
                    alert.firing,
                    muted_by is not None,
                )
            )
            seen = {"received_count": row["received_count"] + 1, "last_seen_at": now}
            sender = senders[index] if index < len(senders) else ""
            if sender:
                seen["sender"] = sender
            if decision.action is Action.IGNORE:
                rows[alert.fingerprint] = {
                    **row,
                    **seen,
                    "duplicate_count": row["duplicate_count"] + 1,
                }
                continue
            flap_note = None
            if flap_changes and limits is not None:
                seen["flapping_since"] = now
                if SLACK in routing.channels_for(alert.labels):
                    flap_note = _flap_note(alert, flap_changes, limits)
            routed = _route(decision, alert, row, routing, lanes, flap_note)
            new_row = {
                **row,
                **seen,
                **_new_state(row, alert, routed.decision.action, routed.channels, now, muted_by),
            }
            if routed.folded_channels is not None:
                # Not paged on its own: its storm's notifications stand for it.
                new_row["storm_id"] = routed.storm_id
            rows[alert.fingerprint] = new_row
            changes.append(
                Change(
                    payload=index,
                    alert=alert,
                    decision=routed.decision,
                    channels=routed.channels,
                    flap_note=flap_note,
                    priority=routed.priority,
                    folded_channels=routed.folded_channels,
                    storm_id=new_row["storm_id"],
                )
            )
            unwritten[alert.fingerprint] = unwritten.get(alert.fingerprint, 0) + 1
    return Decided(rows, tuple(changes), tuple(verdicts), dict(lanes.states))


def _route(
    decision: Decision,
    alert: Alert,
    row: Row,
    routing: Routing,
    lanes: LaneAssigner,
    flap_note: str | None,
) -> _Routed:
    """Where a change goes, in which lane; a new firing of a name that folds goes into
    its name's storm instead. Decided now, not after the loop: a later change of this
    alert (in another payload of the batch) must find it folded or not."""
    channels = _channels(decision, alert, row, routing)
    if not channels and flap_note is None:
        return _Routed(decision, channels)
    name = alert.name[:NAME_CHARS]
    lane, folding = lanes.assign(name)
    if not (folding and decision.action is Action.NOTIFY_FIRING):
        return _Routed(decision, channels, lane)
    return _Routed(
        Decision(decision.action, f"storm_folded_{decision.reason}"),
        (),
        NORMAL,
        folded_channels=channels,
        storm_id=lanes.states[name].open_storm,
    )


def _channels(decision: Decision, alert: Alert, row: Row, routing: Routing) -> tuple[str, ...]:
    if decision.action is Action.NOTIFY_FIRING:
        return tuple(c for c in routing.channels_for(alert.labels) if c != HEARTBEAT)
    if decision.action is Action.NOTIFY_RESOLVED:
        return tuple(row["channels"] or ())
    return ()


def _new_state(
    row: Row,
    alert: Alert,
    action: Action,
    channels: tuple[str, ...],
    now: datetime,
    muted_by: str | None,
) -> dict[str, Any]:
    """The columns a state-changing decision sets: the alert as it is now, and what was
    sent for it (`channels`: where it is notified on its own)."""
    state: dict[str, Any] = {
        "status": alert.status,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "alertname": alert.name[:NAME_CHARS],
        "severity": alert.severity[:SEVERITY_CHARS],
        "node": alert.node[:NAME_CHARS],
        "labels": alert.labels,
        "annotations": alert.annotations,
        "generator_url": alert.generator_url,
        "last_change_at": now,
    }
    if action is Action.NOTIFY_FIRING:
        state.update(
            channels=list(channels),
            notified=bool(channels),
            slack_ts=None,
            slack_channel=None,
            suppressed_by=None,
            reminded_at=None,
            delivered_status="firing" if channels else None,
            storm_id=None,
        )
    elif action is Action.NOTIFY_RESOLVED and channels:
        state.update(delivered_status="resolved")
    elif muted_by is not None:
        # Held back by a maintenance window; released if it still fires afterwards.
        state.update(channels=[], notified=False, suppressed_by=muted_by, slack_ts=None)
    elif not alert.firing and action is Action.RECORD:
        state.update(channels=[], notified=False, suppressed_by=None)
    return state


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
    row: Row,
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
