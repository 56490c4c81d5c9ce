"""Acting on a verified click or PagerDuty event: one transaction each, recorded once.

What an act changes goes through the outbox (a PagerDuty `acknowledge`, the Slack message
update and thread line) and the windows table (a Silence), in the same transaction as
the act's unique record: a retry, a double click or the same click on another replica
inserts the same key, finds it taken, and changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from bridge.db.models import AlertRow
from bridge.interact.acts import (
    acknowledged_already,
    invalid_window,
    open_window,
    record_click,
)
from bridge.interact.incidents import act_on_pagerduty
from bridge.interact.outcome import Outcome
from bridge.interact.slack import Click, InteractionError, SilenceLimits, silence_plan
from bridge.interact.storm_acts import act_on_storm
from bridge.notify.mrkdwn import escape
from bridge.routing import PAGERDUTY, SLACK
from bridge.store import responses
from bridge.store.outbox import ACKNOWLEDGE_ACTION, STATE_ACTION
from bridge.store.rows import add_delivery
from bridge.vocabulary import ACK, STORM_CHOICES, episode_of

__all__ = ["Outcome", "SilenceLimits", "act_on_click", "act_on_pagerduty"]


def _alert(conn: Connection, alert_id: int) -> Any:
    return conn.execute(select(AlertRow.__table__).where(AlertRow.id == alert_id)).first()


def _where(row: Any) -> str:
    return escape(f"{row.alertname} on {row.node}" if row.node else row.alertname)


def act_on_click(engine: Engine, click: Click, limits: SilenceLimits, now: datetime) -> Outcome:
    """Acknowledge or silence the clicked alert or storm, once. `InteractionError` for an
    unknown one."""
    act = act_on_storm if click.choice in STORM_CHOICES else _act_on_alert
    with engine.begin() as conn:
        return act(conn, click, limits, now)


def _act_on_alert(conn: Connection, click: Click, limits: SilenceLimits, now: datetime) -> Outcome:
    row = _alert(conn, click.target_id)
    if row is None or not row.status:
        raise InteractionError(400, "unknown alert", "the button refers to no known alert")
    if episode_of(row.starts_at) != click.episode or row.status != "firing":
        return Outcome(
            False, f"{_where(row)} has resolved meanwhile: nothing was done.", why="resolved"
        )
    if click.choice == ACK and PAGERDUTY not in (row.channels or []):
        return Outcome(False, f"{_where(row)} did not page: nothing to acknowledge.")
    plan = None
    if click.choice != ACK:
        plan = silence_plan(click.choice, row.labels, now, limits.timezone, limits.max_duration)
        refused = invalid_window(plan, click, now, _where(row))
        if refused is not None:
            return refused
    key = f"slack:{row.id}:{click.episode}:{click.choice}"
    if not record_click(conn, key, click, now, alert_id=row.id):
        return Outcome(False, why="already done")
    ref = responses.episode_ref(row.id, row.starts_at)
    if plan is None:
        if not responses.acknowledge(conn, ref, click.actor, now, "slack"):
            return acknowledged_already(conn, ref, _where(row))
        add_delivery(conn, row, PAGERDUTY, ACKNOWLEDGE_ACTION, now)
        note = f":eyes: <@{click.user_id}> acknowledged {_where(row)} from Slack."
        outcome = Outcome(True, seconds_to_acknowledge=(now - row.starts_at).total_seconds())
    else:
        window_id, note = open_window(conn, ref, plan, click, now)
        outcome = Outcome(True, window_id=window_id)
    if SLACK in (row.channels or []):
        add_delivery(conn, row, SLACK, STATE_ACTION, now, note)
    return outcome
