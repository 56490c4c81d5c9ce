"""Acting on a verified click or PagerDuty event: one transaction each, recorded once.

What an act changes goes through the outbox (a PagerDuty `acknowledge`, the Slack message
update and thread line) and the windows table (a Silence), in the same transaction as
the act's unique record: a retry, a double click or the same click on another replica
inserts the same key, finds it taken, and changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, select

from bridge.db.models import AlertRow
from bridge.interact import pagerduty as pd
from bridge.interact.slack import (
    ACK,
    Click,
    InteractionError,
    episode_of,
    silence_plan,
)
from bridge.notify.pagerduty_event import dedup_key
from bridge.notify.slack_blocks import escape
from bridge.routing import PAGERDUTY, SLACK
from bridge.silences.model import WindowError, WindowSpec, check_spec
from bridge.store import responses
from bridge.store.outbox import ACKNOWLEDGE_ACTION, STATE_ACTION
from bridge.store.rows import add_delivery
from bridge.store.windows import create_window


@dataclass(frozen=True)
class Outcome:
    acted: bool
    # For the person who clicked (ephemeral); None: the message update says it all.
    reply: str | None = None
    window_id: str | None = None
    seconds_to_acknowledge: float | None = None
    why: str = ""


@dataclass(frozen=True)
class SilenceLimits:
    timezone: str
    max_duration: timedelta


def _alert(conn: Connection, alert_id: int) -> Any:
    return conn.execute(select(AlertRow.__table__).where(AlertRow.id == alert_id)).first()


def _where(row: Any) -> str:
    return escape(f"{row.alertname} on {row.node}" if row.node else row.alertname)


def _slack_date(when: datetime) -> str:
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{when.isoformat()}>"


def act_on_click(engine: Engine, click: Click, limits: SilenceLimits, now: datetime) -> Outcome:
    """Acknowledge or silence the clicked alert, once. `InteractionError` for an unknown one."""
    with engine.begin() as conn:
        row = _alert(conn, click.alert_id)
        if row is None or not row.status:
            raise InteractionError(400, "unknown alert", "the button refers to no known alert")
        if episode_of(row.starts_at) != click.episode or row.status != "firing":
            return Outcome(
                False, f"{_where(row)} has resolved meanwhile: nothing was done.", why="resolved"
            )
        if click.choice == ACK and PAGERDUTY not in (row.channels or []):
            return Outcome(False, f"{_where(row)} did not page: nothing to acknowledge.")
        plan = spec = None
        if click.choice != ACK:
            plan = silence_plan(click.choice, row.labels, now, limits.timezone, limits.max_duration)
            comment = f"Silenced from Slack: {plan.what} until {plan.ends_at.isoformat()}"
            spec = WindowSpec(plan.matchers, now, plan.ends_at, click.actor, comment, None)
            try:  # the validation every window passes, before anything is recorded
                check_spec(spec)
            except WindowError as exc:
                return Outcome(
                    False,
                    f"{_where(row)} cannot be silenced: {escape(exc.message)}.",
                    why="invalid",
                )
        key = f"slack:{row.id}:{click.episode}:{click.choice}"
        first = responses.record_once(
            conn,
            key,
            source="slack",
            action=click.choice,
            alert_id=row.id,
            actor=click.actor,
            now=now,
            detail={"action_ts": click.action_ts},
        )
        if not first:
            return Outcome(False, why="already done")
        who = f"<@{click.user_id}>"
        if plan is None:
            responses.acknowledge(conn, row.id, row.starts_at, click.actor, now, "slack")
            add_delivery(conn, row, PAGERDUTY, ACKNOWLEDGE_ACTION, now)
            note = f":eyes: {who} acknowledged {_where(row)} from Slack."
            outcome = Outcome(True, seconds_to_acknowledge=(now - row.starts_at).total_seconds())
        else:
            assert spec is not None
            window_id = uuid.uuid4().hex
            create_window(conn, window_id, spec, now)
            responses.silence(conn, row.id, row.starts_at, click.actor, plan.ends_at, window_id)
            note = (
                f":no_bell: {who} silenced {escape(plan.what)} until "
                f"{_slack_date(plan.ends_at)} (window `{window_id}`)."
            )
            outcome = Outcome(True, window_id=window_id)
        if SLACK in (row.channels or []):
            add_delivery(conn, row, SLACK, STATE_ACTION, now, note)
        return outcome


def _episode_for(conn: Connection, event: pd.PdEvent) -> Any:
    """The alert row the event is about, in the episode it is about; None: not ours."""
    if event.type == pd.NOTE_EVENT:
        found = responses.episode_of_incident(conn, event.incident_id)
        if found is None:
            return None
        row = _alert(conn, found[0])
        return row if row is not None and row.starts_at == found[1] else None
    fingerprint = pd.fingerprint_of(event.incident_key)
    if fingerprint is None:
        return None
    row = conn.execute(
        select(AlertRow.__table__).where(AlertRow.fingerprint == fingerprint)
    ).first()
    if row is None or dedup_key(row.fingerprint) != event.incident_key:
        return None
    return row


def act_on_pagerduty(engine: Engine, event: pd.PdEvent, now: datetime) -> Outcome:
    """Show PagerDuty's change on the alert's Slack message, once, never going backwards."""
    with engine.begin() as conn:
        row = _episode_for(conn, event)
        if row is None:
            return Outcome(False, why="not an incident of ours")
        first = responses.record_once(
            conn,
            f"pagerduty:{event.id}",
            source="pagerduty",
            action=event.type,
            alert_id=row.id,
            actor=event.agent,
            now=now,
            detail={"incident": event.incident_id, "occurred_at": event.occurred_at.isoformat()},
        )
        if not first:
            return Outcome(False, why="already done")
        outcome = Outcome(True)
        if event.type in pd.STATE_EVENTS:
            newer = responses.pagerduty_state(
                conn,
                row.id,
                row.starts_at,
                incident_id=event.incident_id,
                incident_url=event.incident_url,
                status=event.status,
                responder=pd.responder(event),
                occurred_at=event.occurred_at,
            )
            if not newer:
                return Outcome(False, why="older than the state shown")
            if event.type == "incident.acknowledged" and responses.acknowledge(
                conn,
                row.id,
                row.starts_at,
                event.agent or "PagerDuty",
                event.occurred_at,
                "pagerduty",
            ):
                seconds = (event.occurred_at - row.starts_at).total_seconds()
                outcome = Outcome(True, seconds_to_acknowledge=seconds)
        if SLACK in (row.channels or []):
            line = pd.thread_line(event, still_firing=row.status == "firing")
            add_delivery(conn, row, SLACK, STATE_ACTION, now, line)
        return outcome
