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
from bridge.interact.incidents import act_on_pagerduty
from bridge.interact.outcome import Outcome
from bridge.interact.slack import Click, InteractionError, silence_plan
from bridge.routing import PAGERDUTY, SLACK
from bridge.silences.model import WindowSpec
from bridge.store import responses
from bridge.store.outbox import ACKNOWLEDGE_ACTION, STATE_ACTION
from bridge.store.rows import add_delivery
from bridge.store.windows import create_window
from bridge.vocabulary import ACK, episode_of, escape

__all__ = ["Outcome", "SilenceLimits", "act_on_click", "act_on_pagerduty"]


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
        ref = responses.episode_ref(row.id, row.starts_at)
        if plan is None:
            responses.acknowledge(conn, ref, click.actor, now, "slack")
            add_delivery(conn, row, PAGERDUTY, ACKNOWLEDGE_ACTION, now)
            note = f":eyes: {who} acknowledged {_where(row)} from Slack."
            outcome = Outcome(True, seconds_to_acknowledge=(now - row.starts_at).total_seconds())
        else:
            window_id = uuid.uuid4().hex
            comment = f"Silenced from Slack: {plan.what} until {plan.ends_at.isoformat()}"
            spec = WindowSpec(plan.matchers, now, plan.ends_at, click.actor, comment, None)
            create_window(conn, window_id, spec, now)
            responses.silence(conn, ref, click.actor, plan.ends_at, window_id)
            note = (
                f":no_bell: {who} silenced {escape(plan.what)} until "
                f"{_slack_date(plan.ends_at)} (window `{window_id}`)."
            )
            outcome = Outcome(True, window_id=window_id)
        if SLACK in (row.channels or []):
            add_delivery(conn, row, SLACK, STATE_ACTION, now, note)
        return outcome
