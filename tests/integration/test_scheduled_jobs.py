"""Scheduled jobs under a controllable clock: dead-man's switch, reminders, flap control,
retention. Deliveries go to the PagerDuty and Slack replicas."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Engine, func, select

from bridge.app import create_app
from bridge.db.models import AlertRow, AttemptRow, DeliveryRow, TransitionRow
from bridge.jobs import check_watchdog, purge_history, send_reminders, settle_flaps
from bridge.settings import Settings
from bridge.store import Store
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import ctx, worker
from tests.support.clock import Clock
from tests.support.payloads import alert, payload, resolved

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def make(settings: Settings, engine: Engine, clock: Clock, **overrides: Any) -> Flask:
    app = create_app(replace(settings, **overrides), store=Store(engine), clock=clock)
    app.testing = True
    return app


def send(app: Flask, *alerts: dict[str, Any]) -> dict[str, Any]:
    response = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(payload(*alerts)), content_type="application/json"
    )
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def settle(app: Flask) -> None:
    delivery = worker(app)
    for _ in range(200):
        delivery.drain()
        depth = ctx(app).store.outbox_depth()
        if depth["pending"] == 0 and depth["in_flight"] == 0:
            return
        time.sleep(0.02)
    raise AssertionError("outbox did not settle")


def iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def watchdog(at: datetime) -> dict[str, Any]:
    return alert(
        "Watchdog", severity="none", node="", gpu=None, starts_at=iso(at), fingerprint="wd"
    )


# --- dead-man's switch ------------------------------------------------------------------


def test_missing_watchdog_pages_once_and_resolves_when_it_resumes(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    send(app, watchdog(T0))
    clock.advance(minutes=4)
    assert check_watchdog(ctx(app)) == 0  # within the 5 min timeout

    clock.advance(minutes=2)
    assert check_watchdog(ctx(app)) == 2  # page and Slack message
    for _ in range(3):
        clock.advance(seconds=15)
        assert check_watchdog(ctx(app)) == 0  # never twice
    settle(app)
    (page,) = pagerduty.triggers()
    assert page["payload"]["class"] == "AlertingPipelineDown"
    assert "Prometheus or Alertmanager is down" in page["payload"]["summary"]
    assert "2026-11-28 03:00:00" in page["payload"]["summary"]  # since when
    assert len(slack.top_level()) == 1

    clock.advance(minutes=1)
    send(app, watchdog(T0))  # Alertmanager is back: Watchdog arrives again
    assert check_watchdog(ctx(app)) == 2
    assert check_watchdog(ctx(app)) == 0
    settle(app)
    assert len(pagerduty.resolves()) == 1
    assert pagerduty.open_incidents() == []
    assert len(slack.updates(slack.top_level()[0].ts)) == 1


def test_watchdog_never_seen_pages_after_timeout_plus_grace(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    clock.advance(minutes=6)
    assert check_watchdog(ctx(app)) == 0  # 5 min timeout + 2 min grace not yet over
    clock.advance(minutes=1, seconds=1)
    assert check_watchdog(ctx(app)) == 2


def test_two_replicas_checking_together_page_once(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    clock = Clock(T0)
    first = make(live_settings, engine, clock)
    send(first, watchdog(T0))
    clock.advance(minutes=5, seconds=30)
    second = make(live_settings, engine, Clock(clock.now + timedelta(seconds=3)))
    assert check_watchdog(ctx(first)) + check_watchdog(ctx(second)) == 2
    settle(first)
    assert len(pagerduty.triggers()) == 1


def test_a_node_window_does_not_mute_the_dead_mans_switch(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    clock = Clock(datetime.now(UTC))
    app = make(
        live_settings,
        engine,
        clock,
        api_token="scheduled-jobs-token-0123456789abcdef",
        alertmanager_urls=("http://127.0.0.1:1",),
    )
    window = {
        "matchers": [{"name": "alertname", "value": ".+", "isRegex": True}],
        "node": "x",
        "duration": "2h",
        "createdBy": "ops",
        "comment": "maintenance",
    }
    app.test_client().post(
        "/silences",
        data=json.dumps(window),
        content_type="application/json",
        headers={"Authorization": "Bearer t"},
    )
    send(app, watchdog(clock.now))
    clock.advance(minutes=6)
    assert check_watchdog(ctx(app)) == 2


# --- reminders --------------------------------------------------------------------------


def test_critical_alert_firing_for_hours_gets_a_thread_reminder_not_a_page(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    send(
        app,
        alert(starts_at=iso(T0)),
        alert("GPUTemperatureWarning", severity="warning", node="n2", starts_at=iso(T0)),
    )
    settle(app)
    clock.advance(hours=3, minutes=59)
    assert send_reminders(ctx(app)) == 0
    clock.advance(minutes=2)
    assert send_reminders(ctx(app)) == 1  # the critical one only
    assert send_reminders(ctx(app)) == 0
    settle(app)
    critical = next(m for m in slack.top_level() if "Critical" in (m.text or ""))
    (reminder,) = slack.replies(critical.ts)
    assert "Still firing after 4h 1m" in (reminder.text or "")
    assert len(pagerduty.triggers()) == 1  # no new page
    clock.advance(hours=4, minutes=1)
    assert send_reminders(ctx(app)) == 1  # the next one, four hours later


# --- flap control -----------------------------------------------------------------------


def test_flapping_alert_gets_one_notice_then_one_settled_message(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    episodes = []
    for i in range(5):  # fire/resolve five times within 25 minutes: 10 changes
        start = T0 + timedelta(minutes=5 * i)
        firing = alert(starts_at=iso(start))
        episodes.append(firing)
        clock.now = start
        send(app, firing)
        settle(app)
        clock.advance(minutes=2)
        send(app, resolved(firing, ends_at=iso(clock.now)))
        settle(app)

    actions = [e["event_action"] for e in pagerduty.events]
    # trigger, resolve, trigger, resolve: the 5th change starts flapping; nothing after.
    assert actions == ["trigger", "resolve", "trigger", "resolve"]
    notices = [m for m in slack.posts() if "is flapping" in (m.text or "")]
    assert len(notices) == 1

    clock.advance(minutes=14)
    assert settle_flaps(ctx(app)) == 0  # not yet stable for 15 minutes
    clock.advance(minutes=2)
    assert settle_flaps(ctx(app)) == 1
    assert settle_flaps(ctx(app)) == 0
    settle(app)
    settled = [m for m in slack.posts() if "stable again" in (m.text or "")]
    assert len(settled) == 1 and "(resolved)" in (settled[0].text or "")
    # On-call last saw "resolved": no catch-up needed, PagerDuty untouched.
    assert [e["event_action"] for e in pagerduty.events] == actions


def test_flapping_that_ends_firing_keeps_one_open_incident(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    for i in range(3):
        start = T0 + timedelta(minutes=4 * i)
        clock.now = start
        send(app, alert(starts_at=iso(start)))
        clock.advance(minutes=1)
        send(app, resolved(alert(starts_at=iso(start)), ends_at=iso(clock.now)))
    clock.advance(minutes=1)
    send(app, alert(starts_at=iso(clock.now)))  # stays firing
    settle(app)
    clock.advance(minutes=16)
    assert settle_flaps(ctx(app)) == 1
    settle(app)
    assert len(pagerduty.open_incidents()) == 1


# --- retention --------------------------------------------------------------------------


def count(engine: Engine, model: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(model)).scalar_one())


def test_retention_deletes_exactly_what_is_old(settings: Settings, engine: Engine) -> None:
    clock = Clock(T0)
    app = make(settings, engine, clock, retention_seconds=30 * 86400)
    old = alert(node="old", starts_at=iso(T0))
    send(app, old)
    settle(app)
    send(app, resolved(old))
    settle(app)
    still_firing_old = alert(node="firing-for-long", starts_at=iso(T0))
    send(app, still_firing_old)
    settle(app)

    clock.advance(days=29)
    recent = alert(node="recent", starts_at=iso(clock.now))
    send(app, recent)
    settle(app)
    send(app, resolved(recent))
    settle(app)

    clock.advance(days=2)  # "old" is now 31 days past; "recent" 2 days
    assert purge_history(ctx(app)) > 0
    with engine.connect() as conn:
        nodes = set(conn.execute(select(AlertRow.node)).scalars())
    assert nodes == {"firing-for-long", "recent"}
    # The firing alert keeps its state; its old finished deliveries go.
    assert count(engine, DeliveryRow) == 4  # recent: 2 triggers + 2 resolves
    assert count(engine, AttemptRow) == 4
    assert count(engine, TransitionRow) == 3  # firing-for-long: 1, recent: 2
    assert purge_history(ctx(app)) == 0


def test_an_alert_arriving_hours_old_is_not_reminded_right_after_its_first_message(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    clock = Clock(T0 + timedelta(hours=5))  # the bridge was down when it started
    app = make(live_settings, engine, clock)
    send(app, alert(starts_at=iso(T0)))
    settle(app)
    assert send_reminders(ctx(app)) == 0
    clock.advance(hours=4, seconds=1)
    assert send_reminders(ctx(app)) == 1
