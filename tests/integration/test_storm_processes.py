"""A storm in real `alert-bridge serve` processes, with the shipped defaults on.

Storm folding and PagerDuty pacing are on, as `serve` wires them (no BRIDGE_STORM_FOLD or
BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE override); only the storm window is shortened so the
storm can end within the test. PagerDuty fails the storm's own events (its open and its
update), the bridge is SIGKILLed mid-storm and restarted, and on PostgreSQL a second
replica shares the storm. Throughout, a critical alert of another name pages at once.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.notify.storm_message import STORM_PREFIX
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.test_serve_process import live_env
from tests.integration.test_serve_process import send as send_webhook
from tests.support.bridge_proc import start_bridge
from tests.support.payloads import alert, payload, resolved
from tests.support.procs import Proc, wait_until

pytestmark = pytest.mark.slow

NAME = "GPUTemperatureCritical"
OTHER = "DGXSparkNodeDown"
# A storm's update goes out at most every ~70 s (bridge/storms.py PAGERDUTY_REFRESH), and
# its end after the window: the waits below leave room for both plus the retries.
STORM_WAIT_S = 150.0


def gpu_alerts(first: int, count: int) -> list[dict[str, Any]]:
    return [alert(NAME, node=f"dgx-spark-{n:03d}") for n in range(first, first + count)]


def send(bridge: Proc, *alerts: dict[str, Any]) -> None:
    answer = send_webhook(bridge.url, payload(*alerts))
    assert answer.status_code == 200, answer.text


def storm_events(pd: FakePagerDuty, action: str) -> list[dict[str, Any]]:
    return [
        e
        for e in pd.events
        if e["event_action"] == action and e["dedup_key"].startswith(STORM_PREFIX)
    ]


def page_of(pd: FakePagerDuty, node: str) -> dict[str, Any] | None:
    return next((e for e in pd.triggers() if e["payload"].get("source") == node), None)


def paged_before_the_storm_event(pd: FakePagerDuty, node: str, storm_event_index: int) -> None:
    """The other name's page was accepted while the storm's event was still failing."""
    page = pd.wait_for(lambda: page_of(pd, node), timeout=30, what=f"the page for {node}")
    storm = pd.wait_for(
        lambda: len(storm_events(pd, "trigger")) > storm_event_index or None,
        timeout=STORM_WAIT_S,
        what=f"storm trigger #{storm_event_index + 1}",
    )
    assert storm
    delivered = storm_events(pd, "trigger")[storm_event_index]
    assert page["received_at"] < delivered["received_at"]


def test_a_storm_survives_pagerduty_failures_and_a_sigkill_and_never_delays_another_page(
    tmp_path: Path,
    db_url: str,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    env = {**live_env(tmp_path, db_url, pagerduty, slack, test_ca), "BRIDGE_STORM_WINDOW": "20s"}
    first = start_bridge(tmp_path, env, name="first")
    replicas: list[Proc] = []
    try:
        # Ten alerts page on their own; the next fifteen open the storm, whose open event
        # PagerDuty refuses twice. A critical of another name, sent after it, is not kept
        # waiting behind the storm's retries.
        send(first, *gpu_alerts(0, 10))
        pagerduty.wait_for(lambda: len(pagerduty.triggers()) >= 10, timeout=30, what="10 pages")
        pagerduty.fail_events(STORM_PREFIX, status=503, times=2)
        send(first, *gpu_alerts(10, 15))
        send(first, alert(OTHER, node="other-01", gpu=None))
        paged_before_the_storm_event(pagerduty, "other-01", 0)

        # The storm grows; PagerDuty refuses its update twice; the bridge is killed while
        # the update is still owed, and restarted on the same database.
        pagerduty.fail_events(STORM_PREFIX, status=502, times=2)
        send(first, *gpu_alerts(25, 10))
        first.popen.send_signal(signal.SIGKILL)
        first.popen.wait(timeout=10)
        restarted = start_bridge(tmp_path, env, name="restarted")
        replicas.append(restarted)
        if db_url.startswith("postgresql"):
            # A second replica shares the storm: its alerts fold into the same incident.
            second = start_bridge(tmp_path, env, name="second")
            replicas.append(second)
            send(second, *gpu_alerts(35, 10))
        send(replicas[-1], alert(OTHER, node="other-02", gpu=None))
        paged_before_the_storm_event(pagerduty, "other-02", 1)

        # Every alert resolves; after the window the storm ends with one resolve.
        for index, alerts in enumerate([gpu_alerts(0, 25), gpu_alerts(25, 20)]):
            send(replicas[index % len(replicas)], *[resolved(a) for a in alerts])
        pagerduty.wait_for(
            lambda: storm_events(pagerduty, "resolve") or None,
            timeout=STORM_WAIT_S,
            what="the storm's resolve",
        )
        wait_until(
            lambda: all(r.alive for r in replicas) or None, timeout=5, what="replicas running"
        )
    finally:
        for proc in [first, *replicas]:
            proc.stop()

    keys = {e["dedup_key"] for e in pagerduty.events if e["dedup_key"].startswith(STORM_PREFIX)}
    assert len(keys) == 1  # one storm incident, across the kill and the replicas
    assert len(storm_events(pagerduty, "resolve")) == 1
    triggers = storm_events(pagerduty, "trigger")
    assert len(triggers) >= 2  # the open and at least one update, none lost
    own = [e["dedup_key"] for e in pagerduty.triggers() if e not in triggers]
    assert len(own) == len(set(own)) == 12  # ten before the storm, two of the other name
    log = "\n".join(p.log(lines=100000) for p in [first, *replicas])
    assert "Traceback" not in log
