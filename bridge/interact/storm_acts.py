"""A click on a storm's message: acknowledge its incident, or silence what fits a storm.

As an alert's click (service.py), in the caller's transaction and recorded once under a
unique key: PagerDuty's `acknowledge` and the message update go through the outbox as the
storm's own rows, the window through the windows table. Acknowledging the storm counts for
its folded alerts (summary, `/alerts`, metrics).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from bridge.db.models import ALERTS, STORMS
from bridge.interact.acts import (
    acknowledged_already,
    invalid_window,
    open_window,
    record_click,
)
from bridge.interact.outcome import Outcome
from bridge.interact.slack import Click, InteractionError, SilenceLimits, storm_silence_plan
from bridge.notify.mrkdwn import escape
from bridge.routing import PAGERDUTY, SLACK
from bridge.store import responses
from bridge.store.storm_rows import STORM_ACK, STORM_STATE, add_storm_act
from bridge.vocabulary import STORM_ACK as ACK_CHOICE
from bridge.vocabulary import episode_of


def _places(conn: Connection, storm_id: int) -> list[tuple[str, str]]:
    """(label, value) of each folded alert's node, as its labels name it."""
    rows = conn.execute(select(ALERTS.c.labels).where(ALERTS.c.storm_id == storm_id))
    places = []
    for (labels,) in rows:
        labels = labels or {}
        if labels.get("node"):
            places.append(("node", str(labels["node"])))
        elif labels.get("instance"):
            places.append(("instance", str(labels["instance"])))
    return places


def _severity(conn: Connection, storm: Any) -> str:
    found = conn.execute(
        select(ALERTS.c.severity).where(ALERTS.c.id == storm.anchor_alert_id)
    ).scalar()
    return str(found or "critical")


def act_on_storm(conn: Connection, click: Click, limits: SilenceLimits, now: datetime) -> Outcome:
    storm = conn.execute(select(STORMS).where(STORMS.c.id == click.target_id)).first()
    if storm is None or episode_of(storm.started_at) != click.episode:
        raise InteractionError(400, "unknown storm", "the button refers to no known storm")
    name = escape(storm.alertname)
    channels = storm.channels or []
    if storm.ended_at is not None:
        return Outcome(False, f"The {name} storm is over: nothing was done.", why="over")
    if click.choice == ACK_CHOICE and PAGERDUTY not in channels:
        return Outcome(False, f"The {name} storm did not page: nothing to acknowledge.")
    plan = None
    if click.choice != ACK_CHOICE:
        places = _places(conn, storm.id)
        plan = storm_silence_plan(click.choice, storm.alertname, places, now, limits.max_duration)
        refused = invalid_window(plan, click, now, f"The {name} storm")
        if refused is not None:
            return refused
    key = f"slack:storm:{storm.id}:{click.choice}"
    if not record_click(conn, key, click, now, storm_id=storm.id):
        return Outcome(False, why="already done")
    ref = responses.storm_ref(storm.id)
    severity = _severity(conn, storm)
    if plan is None:
        if not responses.acknowledge(conn, ref, click.actor, now, "slack"):
            return acknowledged_already(conn, ref, f"The {name} storm")
        responses.acknowledge_folded(conn, storm.id, click.actor, now, "slack")
        add_storm_act(conn, storm, severity, PAGERDUTY, STORM_ACK, now)
        note = f":eyes: <@{click.user_id}> acknowledged the {name} storm from Slack."
        outcome = Outcome(True, seconds_to_acknowledge=(now - storm.started_at).total_seconds())
    else:
        window_id, note = open_window(conn, ref, plan, click, now)
        outcome = Outcome(True, window_id=window_id)
    if SLACK in channels:
        add_storm_act(conn, storm, severity, SLACK, STORM_STATE, now, note)
    return outcome
