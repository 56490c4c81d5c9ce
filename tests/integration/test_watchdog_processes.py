"""Two real `alert-bridge serve` processes sharing PostgreSQL: the dead-man's switch pages
once, and resolves once, however many bridges watch the Watchdog."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.conftest import ROUTING_KEY, SLACK_TOKEN
from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until

pytestmark = pytest.mark.slow


def test_two_bridges_page_once_when_watchdog_stops_and_resolve_once_when_it_returns(
    tmp_path: Path,
    postgres_session_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    from sqlalchemy import create_engine, text

    admin = create_engine(postgres_session_url)
    with admin.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    admin.dispose()
    config = tmp_path / "bridge.yml"
    config.write_text("digest:\n  schedules: []\n")  # only the dead-man's messages in Slack
    env = bridge_env(
        tmp_path,
        postgres_session_url,
        BRIDGE_CONFIG=str(config),
        BRIDGE_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
        BRIDGE_PAGERDUTY_EVENTS_URL=pagerduty.url,
        BRIDGE_SLACK_BOT_TOKEN=SLACK_TOKEN,
        BRIDGE_SLACK_CHANNEL="#alerts",
        BRIDGE_SLACK_API_URL=slack.api_url,
        BRIDGE_CA_BUNDLE=str(test_ca.ca_bundle),
        BRIDGE_WATCHDOG_TIMEOUT="6s",
        BRIDGE_WATCHDOG_GRACE="1s",
    )
    watchdog = alert(
        "Watchdog",
        severity="none",
        node="",
        gpu=None,
        fingerprint="watchdog",
        starts_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    with (
        start_bridge(tmp_path, env, name="bridge-a") as first,
        start_bridge(tmp_path, env, name="bridge-b") as second,
    ):
        for bridge in (first, second):  # both Alertmanagers of a pair send to both
            response = requests.post(
                f"{bridge.url}/webhook/alertmanager",
                data=json.dumps(payload(watchdog)),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert response.status_code == 200
        # Then nothing: the pipeline is "down". Both bridges check every 15 s.
        wait_until(lambda: pagerduty.triggers() or None, timeout=60, what="the dead-man page")
        wait_until(
            lambda: len(slack.top_level()) >= 1 or None, timeout=20, what="the Slack message"
        )
        # Both bridges have run their check again since: still one page.
        for bridge in (first, second):
            wait_until(
                lambda b=bridge: _watchdog_runs(b.url) >= 3 or None,
                timeout=60,
                what="three watchdog checks",
            )
        assert len(pagerduty.triggers()) == 1
        assert pagerduty.triggers()[0]["payload"]["class"] == "AlertingPipelineDown"
        assert len(slack.top_level()) == 1

        # The pipeline is back: Watchdog arrives every 2 s again, as Alertmanager re-sends
        # it on its short repeat_interval, until the end of the test.
        stop = threading.Event()

        def keep_sending() -> None:
            while not stop.wait(2):
                requests.post(
                    f"{second.url}/webhook/alertmanager",
                    data=json.dumps(payload(watchdog)),
                    headers={"Content-Type": "application/json"},
                    timeout=10,
                )

        sender = threading.Thread(target=keep_sending, daemon=True)
        sender.start()
        try:
            wait_until(lambda: pagerduty.resolves() or None, timeout=60, what="the resolve")
            for bridge in (first, second):
                before = _watchdog_runs(bridge.url)
                wait_until(
                    lambda b=bridge, n=before: _watchdog_runs(b.url) > n or None,
                    timeout=60,
                    what="another watchdog check",
                )
        finally:
            stop.set()
            sender.join(15)
        assert len(pagerduty.resolves()) == 1
        assert len(pagerduty.triggers()) == 1
        assert pagerduty.open_incidents() == []


def _watchdog_runs(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=5).text
    total = 0.0
    for line in text.splitlines():
        if line.startswith('alert_bridge_job_runs_total{job="check_watchdog"'):
            total += float(line.rsplit(" ", 1)[1])
    return total
