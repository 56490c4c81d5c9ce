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
