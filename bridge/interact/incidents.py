"""Acting on a verified PagerDuty v3 event: find what it is about, check that it belongs,
show it once.

An event is about an alert's episode or a storm, found by the incident's key (our
`dedup_key`) or, for notes and once `incident.triggered` (or any shown event) tied it,
by the incident id. Every alert episode shares its alert's key, so a late or retried
event of an earlier episode's incident would otherwise land on the current one: an
event older than the episode, of an incident opened before it, or of another incident
than the one tied to it, is recorded (applied once) and not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from bridge.db.models import ALERTS, STORMS
from bridge.interact import pagerduty as pd
from bridge.interact.outcome import Outcome
from bridge.notify.pagerduty_event import MAX_DEDUP_KEY_CHARS, dedup_key
from bridge.notify.storm_message import STORM_PREFIX, storm_key
from bridge.routing import SLACK
from bridge.store import responses
from bridge.store.outbox import STATE_ACTION
from bridge.store.rows import add_delivery
from bridge.store.storm_rows import STORM_STATE, add_storm_act

# Storm keys longer than PagerDuty's 255 characters are hashed (storm_key): only a name
# at least this long can have one (with the longest start, microseconds included), so
# those few storms are the ones compared.
_LONGEST_START = "/2026-01-01T00:00:00.000000+00:00"
_HASHED_NAME_CHARS = MAX_DEDUP_KEY_CHARS - len(STORM_PREFIX) - len(_LONGEST_START) + 1


@dataclass(frozen=True)
class Subject:
    """What an event is about: an alert's current episode, or a storm."""

    ref: responses.Ref
    alert: Any  # the alert row (an episode), or the storm's anchor alert
    storm: Any | None  # the storm row, for a storm
    started_at: datetime  # the episode's or the storm's start
    still_firing: bool

    @property
    def alert_id(self) -> int | None:
        return None if self.storm is not None else int(self.alert.id)


def _alert_by_id(conn: Connection, alert_id: int) -> Any:
    return conn.execute(select(ALERTS).where(ALERTS.c.id == alert_id)).first()


def _storm_by_key(conn: Connection, key: str) -> Any:
    parts = pd.storm_key_parts(key)
    if parts is not None:
        found = conn.execute(
            select(STORMS).where(STORMS.c.alertname == parts[0], STORMS.c.started_at == parts[1])
        ).first()
    else:
        long_names = select(STORMS).where(func.length(STORMS.c.alertname) >= _HASHED_NAME_CHARS)
        found = next(
            (s for s in conn.execute(long_names) if storm_key(s.alertname, s.started_at) == key),
            None,
        )
    if found is None or storm_key(found.alertname, found.started_at) != key:
        return None
    return found


def _storm_subject(conn: Connection, storm: Any) -> Subject:
    anchor = _alert_by_id(conn, storm.anchor_alert_id)
    firing = conn.execute(
        select(ALERTS.c.id)
        .where(ALERTS.c.storm_id == storm.id, ALERTS.c.status == "firing")
        .limit(1)
    ).first()
    return Subject(
        responses.storm_ref(storm.id),
        anchor,
        storm,
        storm.started_at,
        storm.ended_at is None and firing is not None,
    )


def _episode_subject(row: Any) -> Subject:
    ref = responses.episode_ref(row.id, row.starts_at)
    return Subject(ref, row, None, row.starts_at, row.status == "firing")


def _find(conn: Connection, event: pd.PdEvent) -> tuple[Subject, bool] | None:
    """What the event is about, and whether its incident is tied to something else
    (an earlier episode, another storm). None: not one of ours."""
    tied_episode = tied_storm = None
    if event.incident_id:
        tied_episode = responses.episode_of_incident(conn, event.incident_id)
        tied_storm = responses.storm_of_incident(conn, event.incident_id)
    if event.type == pd.NOTE_EVENT:  # a note names its incident only
        if tied_storm is not None:
            storm = conn.execute(select(STORMS).where(STORMS.c.id == tied_storm)).first()
            return (_storm_subject(conn, storm), False) if storm is not None else None
        if tied_episode is None:
            return None
        row = _alert_by_id(conn, tied_episode[0])
        if row is None:
            return None
        return _episode_subject(row), row.starts_at != tied_episode[1]
    if pd.is_storm_key(event.incident_key):
        storm = _storm_by_key(conn, event.incident_key)
        if storm is None:
            return None
        elsewhere = tied_episode is not None or tied_storm not in (None, storm.id)
        return _storm_subject(conn, storm), elsewhere
    fingerprint = pd.fingerprint_of(event.incident_key)
    if fingerprint is None:
        return None
    row = conn.execute(select(ALERTS).where(ALERTS.c.fingerprint == fingerprint)).first()
    if row is None or dedup_key(row.fingerprint) != event.incident_key:
        return None
    elsewhere = tied_storm is not None or tied_episode not in (None, (row.id, row.starts_at))
    return _episode_subject(row), elsewhere


def act_on_pagerduty(engine: Engine, event: pd.PdEvent, now: datetime) -> Outcome:
    """Show PagerDuty's change on the Slack message of what it is about, once, never
    going backwards; an event that does not belong is recorded and not shown."""
    with engine.begin() as conn:
        found = _find(conn, event)
        if found is None:
            return Outcome(False, why="not an incident of ours")
        subject, elsewhere = found
        current = responses.response_of(conn, subject.ref)
        why = pd.not_shown_because(
            event,
            pd.Belonging(
                subject.started_at,
                current.pd_incident_id if current is not None else None,
                elsewhere,
            ),
        )
        detail: dict[str, Any] = {
            "incident": event.incident_id,
            "occurred_at": event.occurred_at.isoformat(),
            "shown": not why,
        }
        if why:
            detail["why"] = why
        if subject.storm is not None:
            detail["storm"] = subject.storm.id
        first = responses.record_once(
            conn,
            f"pagerduty:{event.id}",
            source="pagerduty",
            action=event.type,
            alert_id=subject.alert_id,
            actor=event.agent,
            now=now,
            detail=detail,
        )
        if not first:
            return Outcome(False, why="already done")
        if why:
            return Outcome(False, why=why)
        outcome = _apply(conn, subject, event)
        if outcome.acted:
            _show(conn, subject, pd.thread_line(event, still_firing=subject.still_firing), now)
        return outcome


def _apply(conn: Connection, subject: Subject, event: pd.PdEvent) -> Outcome:
    if event.type not in pd.STATE_EVENTS:
        return Outcome(True)  # a note: its incident is tied already
    newer = responses.pagerduty_state(
        conn,
        subject.ref,
        incident_id=event.incident_id,
        incident_url=event.incident_url,
        status=event.status,
        responder=pd.responder(event),
        occurred_at=event.occurred_at,
    )
    if not newer:
        return Outcome(False, why="older than the state shown")
    who = event.agent or "PagerDuty"
    if event.type == "incident.acknowledged" and responses.acknowledge(
        conn, subject.ref, who, event.occurred_at, "pagerduty"
    ):
        if subject.storm is not None:
            responses.acknowledge_folded(
                conn, subject.storm.id, who, event.occurred_at, "pagerduty"
            )
        seconds = (event.occurred_at - subject.started_at).total_seconds()
        return Outcome(True, seconds_to_acknowledge=seconds)
    return Outcome(True)


def _show(conn: Connection, subject: Subject, line: str, now: datetime) -> None:
    """The Slack message updated in place, and `line` in its thread."""
    if subject.storm is not None:
        if SLACK in (subject.storm.channels or []):
            severity = subject.alert.severity if subject.alert is not None else "critical"
            add_storm_act(conn, subject.storm, severity, SLACK, STORM_STATE, now, line)
    elif SLACK in (subject.alert.channels or []):
        add_delivery(conn, subject.alert, SLACK, STATE_ACTION, now, line)
