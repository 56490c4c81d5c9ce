"""What a click does, shared by an alert's and a storm's: record it once, open a window."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from bridge.interact.outcome import Outcome
from bridge.interact.slack import Click, SilencePlan
from bridge.notify.mrkdwn import escape
from bridge.silences.model import WindowError, WindowSpec, check_spec
from bridge.store import responses
from bridge.store.windows import create_window


def slack_date(when: datetime) -> str:
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{when.isoformat()}>"


def record_click(
    conn: Connection,
    key: str,
    click: Click,
    now: datetime,
    alert_id: int | None = None,
    storm_id: int | None = None,
) -> bool:
    """True for the one request that records this act (retries, double clicks and other
    replicas insert the same key and get False)."""
    detail: dict[str, Any] = {"action_ts": click.action_ts}
    if storm_id is not None:
        detail["storm"] = storm_id
    return responses.record_once(
        conn,
        key,
        source="slack",
        action=click.choice,
        alert_id=alert_id,
        actor=click.actor,
        now=now,
        detail=detail,
    )


def _window_spec(plan: SilencePlan, click: Click, now: datetime) -> WindowSpec:
    comment = f"Silenced from Slack: {plan.what} until {plan.ends_at.isoformat()}"
    return WindowSpec(plan.matchers, now, plan.ends_at, click.actor, comment, None)


def invalid_window(plan: SilencePlan, click: Click, now: datetime, what: str) -> Outcome | None:
    """The validation every window passes (API, CLI, console, Slack), before anything is
    recorded; an Outcome that says why when the click's window fails it."""
    try:
        check_spec(_window_spec(plan, click, now))
    except WindowError as exc:
        return Outcome(False, f"{what} cannot be silenced: {escape(exc.message)}.", why="invalid")
    return None


def open_window(
    conn: Connection, ref: responses.Ref, plan: SilencePlan, click: Click, now: datetime
) -> tuple[str, str]:
    """A maintenance window named after the Slack user (synced to Alertmanager by the
    windows service, like any other), recorded on the response; (its id, the thread line)."""
    window_id = uuid.uuid4().hex
    create_window(conn, window_id, _window_spec(plan, click, now), now)
    responses.silence(conn, ref, click.actor, plan.ends_at, window_id)
    note = (
        f":no_bell: <@{click.user_id}> silenced {escape(plan.what)} until "
        f"{slack_date(plan.ends_at)} (window `{window_id}`)."
    )
    return window_id, note


def acknowledged_already(conn: Connection, ref: responses.Ref, what: str) -> Outcome:
    """Someone acknowledged first (in PagerDuty, or another click): nothing is sent or
    counted again, and the person who clicked is told who it was."""
    found = responses.response_of(conn, ref)
    by = f" by {escape(found.acked_by)}" if found is not None and found.acked_by else ""
    return Outcome(False, f"{what} was acknowledged already{by}: nothing was done.", why="acked")
