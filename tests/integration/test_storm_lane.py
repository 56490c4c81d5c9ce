"""BRIDGE_STORM_FOLD=off: a storm's pages queue behind a new problem's (bridge/storms.py),
on both databases. (Folding, the default, is in test_storm_folding.py.)"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import Engine

from bridge.alerts import parse_payload
from bridge.routing import PAGERDUTY, Routing
from bridge.settings import Settings
from bridge.store import Store
from bridge.storms import StormLimits
from tests.fakes.pagerduty import FakePagerDuty
from tests.support.bridge_app import deliver_until_settled, make_app, post_alerts
from tests.support.payloads import alert, payload

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
STORM_LIMITS = StormLimits(fold=False)
STORM = STORM_LIMITS.max_changes + 20


def _storm(count: int, name: str = "GPUTemperatureCritical") -> dict[str, object]:
    return payload(
        *(alert(name, node=f"dgx-{n:03}", fingerprint=f"{name}-{n}") for n in range(count))
    )


def _page_order(store: Store, now: datetime, key: str = "alertname") -> list[str]:
    """PagerDuty jobs in the order the worker would claim them: alert names or fingerprints."""
    order = []
    while jobs := store.claim("test", now, limit=1):
        for job in jobs:
            if job.channel == PAGERDUTY:
                snapshot = job.deliveries[0].snapshot
                order.append(snapshot["labels"][key] if key != "fingerprint" else snapshot[key])
    return order


def test_a_new_problem_is_paged_before_the_rest_of_a_storm(store: Store) -> None:
    store.ingest(parse_payload(_storm(STORM)), Routing(), NOW, storm=STORM_LIMITS)
    later = NOW + timedelta(seconds=30)
    store.ingest(
        parse_payload(payload(alert("DGXSparkNodeDown", gpu=None))),
        Routing(),
        later,
        storm=STORM_LIMITS,
    )

    order = _page_order(store, later)

    first = STORM_LIMITS.max_changes
    assert order[:first] == ["GPUTemperatureCritical"] * first
    assert order[first] == "DGXSparkNodeDown"
    assert order[first + 1 :] == ["GPUTemperatureCritical"] * (STORM - first)


def test_below_the_storm_threshold_pages_go_oldest_first(store: Store) -> None:
    few = STORM_LIMITS.max_changes - 1
    store.ingest(parse_payload(_storm(few)), Routing(), NOW, storm=STORM_LIMITS)
    store.ingest(
        parse_payload(payload(alert("DGXSparkNodeDown", gpu=None))),
        Routing(),
        NOW,
        storm=STORM_LIMITS,
    )

    assert _page_order(store, NOW) == ["GPUTemperatureCritical"] * few + ["DGXSparkNodeDown"]


def test_a_name_stops_storming_once_its_window_has_passed(store: Store) -> None:
    store.ingest(parse_payload(_storm(STORM)), Routing(), NOW, storm=STORM_LIMITS)
    after = NOW + STORM_LIMITS.window + timedelta(seconds=1)
    late = parse_payload(payload(alert(node="dgx-late", fingerprint="late")))
    store.ingest(late, Routing(), after, storm=STORM_LIMITS)

    order = _page_order(store, after, key="fingerprint")

    # A normal page again: right after the storm's first ten, before the rest of it.
    assert order.index("late") == STORM_LIMITS.max_changes
    assert len(order) == STORM + 1


def _pagerduty_lanes(app: Flask) -> list[str]:
    """The lane of every PagerDuty delivery, as `GET /alerts` shows them (sorted)."""
    listed = app.test_client().get("/alerts?limit=500").get_json()["alerts"]
    return sorted(d["lane"] for a in listed for d in a["deliveries"] if d["channel"] == PAGERDUTY)


def test_alerts_api_shows_which_deliveries_wait_in_the_storm_lane(
    settings: Settings, engine: Engine
) -> None:
    app: Flask = make_app(replace(settings, storm_fold=False), engine)
    post_alerts(app, _storm(STORM_LIMITS.max_changes + 1))
    assert _pagerduty_lanes(app) == ["normal"] * STORM_LIMITS.max_changes + ["storm"]


@pytest.mark.parametrize(
    ("max_changes", "expected"), [(2, ["normal"] * 2 + ["storm"] * 3), (0, ["normal"] * 5)]
)
def test_the_storm_threshold_is_a_setting(
    settings: Settings, engine: Engine, max_changes: int, expected: list[str]
) -> None:
    app = make_app(replace(settings, storm_max_changes=max_changes, storm_fold=False), engine)
    post_alerts(app, _storm(5))
    assert _pagerduty_lanes(app) == expected


def test_pagerduty_receives_the_new_problem_right_after_the_storms_first_pages(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    app = make_app(replace(live_settings, storm_fold=False), engine)
    post_alerts(app, _storm(STORM))
    post_alerts(app, payload(alert("DGXSparkNodeDown", gpu=None)))

    deliver_until_settled(app)

    names = [e["payload"]["custom_details"]["labels"]["alertname"] for e in pagerduty.triggers()]
    first = STORM_LIMITS.max_changes
    assert len(names) == STORM + 1
    assert names.index("DGXSparkNodeDown") == first
