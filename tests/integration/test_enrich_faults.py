"""Prometheus stopped, hanging or failing: the page still goes out within the budget, and says
which context is missing and why.

Each test runs the whole path (webhook → outbox → enrichment → PagerDuty and Slack replicas).
Timing is asserted only loosely (well under five budgets), never to the millisecond.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import ctx, make_app
from tests.support.bridge_app import deliver_until_settled as settle
from tests.support.bridge_app import post_alerts as post
from tests.support.hanging import hanging_url
from tests.support.payloads import alert, payload
from tests.support.procs import free_port
from tests.support.stack_procs import start_prometheus

# Short where the test waits it out (a hanging Prometheus); roomy where Prometheus answers
# at once, so a loaded machine cannot turn a quick error answer into "no answer in time".
HANG_BUDGET = 1.0
BUDGET = 5.0
# Generous: the budget plus delivery to two local replicas, on a busy 2-core machine.
SLACK_FACTOR = 5


def page_with_prometheus_at(
    url: str, settings: Settings, engine: Engine, budget: float = BUDGET
) -> tuple[Flask, dict[str, Any]]:
    """Fire one critical alert with Prometheus at `url`; return the app and the PD row."""
    app = make_app(replace(settings, prometheus_url=url, enrich_budget_seconds=budget), engine)
    # No `value` annotation: the key number would have to come from Prometheus.
    post(app, payload(alert(annotations={"summary": "GPU 0 on dgx-spark-01 is hot"})))
    settle(app)
    (listed,) = ctx(app).store.list_alerts()
    pd = next(d for d in listed["deliveries"] if d["channel"] == "pagerduty")
    return app, pd


def assert_delivered_on_time_saying(
    pd: dict[str, Any],
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    *reasons: str,
    budget: float = BUDGET,
) -> None:
    """Delivered at the first attempt, well within the budget, naming what is missing and
    why (any of `reasons`: which timeout fires first is a race that does not matter)."""
    assert pd["status"] == "delivered" and pd["attempts"] == 1
    (attempt,) = pd["attempt_log"]
    assert attempt["duration_ms"] < SLACK_FACTOR * budget * 1000
    (trigger,) = pagerduty.triggers()
    # The summary falls back to the alert's own words rather than waiting for a number.
    assert trigger["payload"]["summary"] == (
        "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: GPU 0 on dgx-spark-01 is hot"
    )
    missing = trigger["payload"]["custom_details"]["missing context"]
    assert "GPU temperature" in missing and any(r in missing for r in reasons), missing
    assert {m["what"] for m in pd["context"]["_missing"]} >= {"GPU temperature", "chart"}
    for entry in pd["context"]["_missing"]:
        assert any(r in entry["why"] for r in reasons), entry
    (message,) = slack.top_level()
    assert "Missing context: GPU temperature" in json.dumps(message.blocks, ensure_ascii=False)


def test_prometheus_stopped_the_page_goes_out_saying_connection_refused(
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    tmp_path: Path,
) -> None:
    config_dir = tmp_path / "prom-config"
    config_dir.mkdir()
    (config_dir / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    prom = start_prometheus(config_dir, tmp_path, free_port())
    prom.stop()  # it was there; now it is not

    _app, pd = page_with_prometheus_at(prom.url, live_settings, engine)
    assert_delivered_on_time_saying(
        pd, pagerduty, slack, "Prometheus unreachable (connection refused)"
    )


@pytest.fixture
def hanging_prometheus() -> Iterator[str]:
    with hanging_url() as url:
        yield url


def test_prometheus_hanging_the_page_goes_out_within_the_budget(
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    hanging_prometheus: str,
) -> None:
    _app, pd = page_with_prometheus_at(hanging_prometheus, live_settings, engine, HANG_BUDGET)
    # Whichever gives up first says so: the query's own timeout or the total budget.
    assert_delivered_on_time_saying(
        pd,
        pagerduty,
        slack,
        "Prometheus did not answer within",
        "1s enrichment budget",
        budget=HANG_BUDGET,
    )


class ErroringPrometheus:
    """Answers every API call with an error status and Prometheus's JSON error body."""

    def __init__(self, status: int, error_type: str, error: str) -> None:
        body = json.dumps({"status": "error", "errorType": error_type, "error": error}).encode()
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def overloaded_prometheus() -> Iterator[ErroringPrometheus]:
    server = ErroringPrometheus(503, "unavailable", "too many concurrent queries")
    yield server
    server.stop()


def test_prometheus_answering_503_the_page_says_so(
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    overloaded_prometheus: ErroringPrometheus,
) -> None:
    _app, pd = page_with_prometheus_at(overloaded_prometheus.url, live_settings, engine)
    assert_delivered_on_time_saying(
        pd, pagerduty, slack, "Prometheus error (HTTP 503, unavailable: too many concurrent"
    )


@pytest.fixture
def rejecting_prometheus() -> Iterator[ErroringPrometheus]:
    server = ErroringPrometheus(422, "execution", "query processing would load too many samples")
    yield server
    server.stop()


def test_prometheus_rejecting_queries_the_page_says_why(
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    rejecting_prometheus: ErroringPrometheus,
) -> None:
    _app, pd = page_with_prometheus_at(rejecting_prometheus.url, live_settings, engine)
    assert_delivered_on_time_saying(
        pd, pagerduty, slack, "query rejected by Prometheus (HTTP 422, execution:"
    )


def test_a_storm_during_an_outage_does_not_wait_out_the_budget_per_alert(
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    hanging_prometheus: str,
) -> None:
    """After Prometheus hung once, further alerts fail fast and say why."""
    app = make_app(
        replace(
            live_settings, prometheus_url=hanging_prometheus, enrich_budget_seconds=HANG_BUDGET
        ),
        engine,
    )
    alerts = [alert(node=f"dgx-spark-{i:02d}") for i in range(6)]
    post(app, payload(*alerts))
    settle(app)
    assert len(pagerduty.triggers()) == 6
    rows = [
        d
        for a in ctx(app).store.list_alerts()
        for d in a["deliveries"]
        if d["channel"] == "pagerduty"
    ]
    durations = [d["attempt_log"][0]["duration_ms"] for d in rows]
    # The first pays the budget; the breaker spares the rest. Without it, six budgets.
    assert sum(durations) < 3 * HANG_BUDGET * 1000, durations
    assert any("not retried for" in m["why"] for d in rows for m in d["context"]["_missing"])
