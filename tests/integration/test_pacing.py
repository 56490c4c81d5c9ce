"""PagerDuty pacing: a storm's pages wait in the outbox instead of hitting the rate limit."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

import bridge.store as store_module
from bridge.app import create_app
from bridge.settings import Settings
from bridge.store import Store
from tests.fakes.pagerduty import FakePagerDuty
from tests.support.bridge_app import ctx, deliveries, post_alerts, worker
from tests.support.clock import Clock
from tests.support.payloads import alert, payload


def test_pages_beyond_the_budget_wait_for_the_next_minute_and_go_out_in_order(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, monkeypatch: Any
) -> None:
    monkeypatch.setattr(store_module, "PACING_CHECK_SECONDS", 0.0)
    clock = Clock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    settings = replace(live_settings, slack_bot_token=None, slack_channel=None)
    app = create_app(settings, store=Store(engine, pagerduty_events_per_minute=3), clock=clock)
    post_alerts(app, payload(*[alert(node=f"dgx-spark-{i:02d}") for i in range(5)]))

    worker(app).drain()
    assert len(pagerduty.triggers()) == 3
    waiting = [d for d in deliveries(engine) if d["channel"] == "pagerduty"]
    assert sum(d["status"] == "pending" and d["attempts"] == 0 for d in waiting) == 2
    # The two pending pages exist but are not due while PagerDuty's budget is spent: the
    # worker must not wake for them before the minute is over.
    assert ctx(app).store.next_due(clock()) is None

    clock.now += timedelta(seconds=61)
    worker(app).drain()
    triggers = pagerduty.triggers()
    assert len(triggers) == 5
    nodes = [t["payload"]["source"] for t in triggers]
    assert nodes == sorted(nodes)  # the outbox kept their order


@pytest.mark.parametrize("value", ["-1", "lots"])
def test_bad_pacing_setting_names_the_variable(value: str) -> None:
    from bridge.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE"):
        load_settings({"BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE": value})


def _paced_app(
    settings: Settings, engine: Engine, clock: Clock, budget: int
) -> Any:  # a Flask app whose Store paces PagerDuty at `budget` events a minute
    app = create_app(settings, store=Store(engine, pagerduty_events_per_minute=budget), clock=clock)
    app.testing = True
    return app


def test_the_budget_is_counted_over_every_replica(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, monkeypatch: Any
) -> None:
    monkeypatch.setattr(store_module, "PACING_CHECK_SECONDS", 0.0)
    clock = Clock(datetime(2026, 11, 28, 3, 0, tzinfo=UTC))
    settings = replace(live_settings, slack_bot_token=None, slack_channel=None)
    one, two = (_paced_app(settings, engine, clock, budget=3) for _ in range(2))
    post_alerts(one, payload(*[alert(node=f"dgx-spark-{i:02d}") for i in range(3)]))
    post_alerts(two, payload(*[alert(node=f"dgx-spark-{i:02d}") for i in range(3, 6)]))

    worker(one).drain()
    assert len(pagerduty.triggers()) == 3
    worker(two).drain()  # the other replica's pages spent the budget it shares
    assert len(pagerduty.triggers()) == 3

    clock.now += timedelta(seconds=61)
    worker(two).drain()
    assert len(pagerduty.triggers()) == 6


def test_a_storm_refresh_waits_inside_the_budget(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, monkeypatch: Any
) -> None:
    from bridge.notify.storm_message import STORM_PREFIX
    from bridge.storms import PAGERDUTY_REFRESH

    monkeypatch.setattr(store_module, "PACING_CHECK_SECONDS", 0.0)
    t0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    clock = Clock(t0)
    settings = replace(live_settings, slack_bot_token=None, slack_channel=None)
    app = _paced_app(settings, engine, clock, budget=11)
    gpus = [alert(node=f"dgx-spark-{i:02d}", fingerprint=f"gpu-{i}") for i in range(40)]
    post_alerts(app, payload(*gpus[:25]))  # ten own pages and a storm: 11 events
    worker(app).drain()
    assert len(pagerduty.triggers()) == 11

    clock.now = t0 + timedelta(seconds=5)
    post_alerts(app, payload(*gpus[25:]))  # the storm grows: a refresh is owed
    # Eleven pages of other names spend the next minute's budget just before it comes due.
    clock.now = t0 + PAGERDUTY_REFRESH - timedelta(seconds=5)
    others = [alert(f"Other{i:02d}", node="dgx-spark-99", gpu=None) for i in range(11)]
    post_alerts(app, payload(*others))
    worker(app).drain()

    def storm_triggers() -> int:
        return sum(e["dedup_key"].startswith(STORM_PREFIX) for e in pagerduty.triggers())

    clock.now = t0 + PAGERDUTY_REFRESH + timedelta(seconds=1)
    worker(app).drain()
    assert storm_triggers() == 1  # due, but the budget of the last minute is spent
    assert len(pagerduty.triggers()) == 22

    clock.now = t0 + PAGERDUTY_REFRESH + timedelta(seconds=60)
    worker(app).drain()
    assert storm_triggers() == 2  # the refresh went out once the budget allowed it


def test_a_store_built_without_settings_paces_as_serve_does() -> None:
    from bridge.settings import load_settings
    from bridge.store import DEFAULT_PAGERDUTY_EVENTS_PER_MINUTE

    assert load_settings({}).pagerduty_events_per_minute == DEFAULT_PAGERDUTY_EVENTS_PER_MINUTE
