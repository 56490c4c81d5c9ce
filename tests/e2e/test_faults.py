"""Faults around one real `alert-bridge serve` on SQLite (the single-replica deployment).

The bridge crashes during a storm, PagerDuty fails, Slack rate limits, Prometheus is gone,
Alertmanager restarts: afterwards every alert that was accepted is paged and posted once,
and a resolve never overtakes its trigger. Retries are kept short (BRIDGE_RETRY_BASE=1s,
BRIDGE_RETRY_MAX=2s, set by bridge_env).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, select

from bridge.db.models import AttemptRow, DeliveryRow
from bridge.notify.pagerduty_event import dedup_key
from tests.e2e.conftest_ha import (
    DELIVERY_TIMEOUT,
    LEASE_TIMEOUT,
    TestAlert,
    abandoned,
    alertmanager_config,
    all_delivered,
    assert_one_page_per_alert,
    assert_one_slack_message_per_alert,
    assert_slack_resolved,
    delivery_rows,
    kill_bridge,
    live_env,
    migrated_engine,
    node_name,
    pagerduty_replica_fixture,  # noqa: F401
    post_to_alertmanagers,
    post_webhook,
    replica_ca_fixture,  # noqa: F401
    slack_replica_fixture,  # noqa: F401
    sqlite_url_fixture,  # noqa: F401
    stored_alerts,
)
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import start_bridge
from tests.support.payloads import alert, payload, resolved
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, wait_until
from tests.support.stack_procs import start_alertmanager

pytestmark = pytest.mark.slow

STORM_ALERTS = 500
STORM_PAYLOADS = 50
KILL_AFTER_ACKED = 200
# Alertmanager sends groups in parallel.
STORM_SENDERS = 4
# Long enough for several capped retries (base 1 s, cap 2 s) of every page.
PAGERDUTY_OUTAGE_SECONDS = 15.0
# How many chat.postMessage calls Slack rate limits, per alert, in each phase.
SLACK_429S_PER_ALERT = 4


@dataclass
class Fixture:
    """What a fault test works with: its bridge's environment, database and replicas."""

    tmp_path: Path
    env: dict[str, str]
    engine: Engine
    pagerduty: FakePagerDuty
    slack: FakeSlack
    procs: list[Proc] = field(default_factory=list)

    def start_bridge(self, name: str = "bridge") -> Proc:
        proc = start_bridge(self.tmp_path, self.env, name=name)
        self.procs.append(proc)
        return proc

    def wait_delivered(self, rows: int, what: str, timeout: float = DELIVERY_TIMEOUT) -> None:
        wait_until(
            lambda: all_delivered(self.engine, rows),
            timeout=timeout,
            what=what,
            procs=[p for p in self.procs if p.alive],
        )

    def fingerprints(self) -> list[str]:
        return [row["fingerprint"] for row in stored_alerts(self.engine).values()]


@pytest.fixture
def setup(
    tmp_path: Path,
    sqlite_url: str,
    pagerduty_replica: FakePagerDuty,
    slack_replica: FakeSlack,
    replica_ca: TestCA,
) -> Iterator[Fixture]:
    env = live_env(tmp_path, sqlite_url, pagerduty_replica, slack_replica, replica_ca)
    engine = migrated_engine(sqlite_url)
    fixture = Fixture(tmp_path, env, engine, pagerduty_replica, slack_replica)
    try:
        yield fixture
    finally:
        for proc in fixture.procs:
            proc.stop()
        engine.dispose()


def alerts_of(nodes: range, name: str = "GPUTemperatureCritical") -> list[dict[str, Any]]:
    return [alert(name, node=node_name(i)) for i in nodes]


def key_of(webhook_alert: dict[str, Any]) -> str:
    """`node/alertname`, as `stored_alerts` keys them."""
    return f"{webhook_alert['labels']['node']}/{webhook_alert['labels']['alertname']}"


def send_ok(bridge: Proc, body: dict[str, Any]) -> None:
    response = post_webhook(bridge.url, body)
    assert response.status_code == 200, response.text


# -- (a) SIGKILL during a storm ----------------------------------------------------------------


@dataclass
class StormResult:
    acked: list[int] = field(default_factory=list)  # payload indices answered 200
    failed: list[int] = field(default_factory=list)  # refused, reset, or not 200
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acked_alerts(self, size: int) -> int:
        with self.lock:
            return len(self.acked) * size


def storm(
    bridge: Proc, payloads: list[dict[str, Any]], kill_at: int, pagerduty: FakePagerDuty
) -> StormResult:
    """Post `payloads` from parallel senders and SIGKILL the bridge in the middle.

    Ingest outruns delivery (deliveries give way to webhook requests), so the storm is held
    once `kill_at` alerts got 200, until a page is in flight; then the senders resume and
    the bridge dies at the same moment: some posts are answered, some cut, the rest refused.
    """
    result = StormResult()
    size = len(payloads[0]["alerts"])
    crossed, resume = threading.Event(), threading.Event()

    def killer() -> None:
        crossed.wait()
        pagerduty.wait_for(lambda: pagerduty.requests, timeout=30, what="a page in flight")
        resume.set()
        kill_bridge(bridge)

    def send(index: int) -> None:
        if crossed.is_set():
            resume.wait(timeout=60)
        try:
            ok = post_webhook(bridge.url, payloads[index], timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        with result.lock:
            (result.acked if ok else result.failed).append(index)
            if len(result.acked) * size >= kill_at:
                crossed.set()

    kill_thread = threading.Thread(target=killer, daemon=True)
    kill_thread.start()
    with ThreadPoolExecutor(STORM_SENDERS) as senders:
        list(senders.map(send, range(len(payloads))))
    kill_thread.join(timeout=60)
    return result


def test_sigkill_during_a_storm_loses_no_acknowledged_alert_and_pages_none_twice(
    setup: Fixture,
) -> None:
    size = STORM_ALERTS // STORM_PAYLOADS
    payloads = [payload(*alerts_of(range(i * size, (i + 1) * size))) for i in range(STORM_PAYLOADS)]
    # Pacing stays on (its budget is read from every attempt, across the restart) but above
    # the storm: at the default 100 a minute, 500 pages take five minutes (test_pacing's job).
    setup.env["BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE"] = "10000"
    # ...and so must the replicas' own limits (PagerDuty's 120 events a minute, Slack's
    # posts per channel): this test counts pages across a kill, not 429 retries.
    setup.pagerduty.rate_limit_per_minute = None
    setup.slack.posts_per_minute = None
    # One page per alert is what this test counts: folding (test_storm_folding's job) off.
    setup.env["BRIDGE_STORM_FOLD"] = "off"
    bridge = setup.start_bridge()
    # Pages take a while, so the kill catches some in flight: the restarted bridge must
    # send them when their lease runs out, and nothing else twice.
    setup.pagerduty.set_latency(0.5)
    result = storm(bridge, payloads, KILL_AFTER_ACKED, setup.pagerduty)
    assert not bridge.alive
    acked_alerts = result.acked_alerts(size)
    assert KILL_AFTER_ACKED <= acked_alerts < STORM_ALERTS, "the kill did not land mid-storm"
    assert result.failed, "every payload was answered: the kill came too late"

    setup.pagerduty.set_latency(0)
    setup.start_bridge("bridge-restarted")
    # First, without any re-send: everything that got a 200 is delivered after the restart
    # (rows the dead process had claimed come back when their lease runs out).
    acked_keys = {key_of(a) for i in result.acked for a in payloads[i]["alerts"]}
    pages_for = {dedup_key(a["fingerprint"]) for i in result.acked for a in payloads[i]["alerts"]}

    def acked_delivered() -> bool:
        stored = stored_alerts(setup.engine)
        paged = {e["dedup_key"] for e in setup.pagerduty.triggers()}
        return acked_keys <= set(stored) and pages_for <= paged

    wait_until(acked_delivered, timeout=LEASE_TIMEOUT, what="every acknowledged alert paged")

    # Then what Alertmanager does with a failed notification: send it again.
    for index in sorted(result.failed):
        send_ok(setup.procs[-1], payloads[index])
    setup.wait_delivered(2 * STORM_ALERTS, "all 500 alerts paged and posted", LEASE_TIMEOUT)

    # Rows the killed process had claimed (a page was in flight): sent after their lease,
    # possibly a second time, which PagerDuty's dedup_key turns into no second incident.
    rows = delivery_rows(setup.engine)
    paged_twice, posted_twice = abandoned(rows, "pagerduty"), abandoned(rows, "slack")
    assert paged_twice
    assert len(stored_alerts(setup.engine)) == STORM_ALERTS
    assert_one_page_per_alert(
        setup.pagerduty, setup.fingerprints(), resolved=False, may_repeat=paged_twice
    )
    assert_one_slack_message_per_alert(setup.engine, setup.slack, may_repeat=posted_twice)


# -- (b) PagerDuty down ------------------------------------------------------------------------


def attempts_by_delivery(engine: Engine, channel: str) -> dict[int, list[dict[str, Any]]]:
    """Recorded attempts of each delivery row of `channel`, oldest first."""
    query = (
        select(AttemptRow.__table__)
        .join(DeliveryRow, DeliveryRow.id == AttemptRow.delivery_id)
        .where(DeliveryRow.channel == channel)
        .order_by(AttemptRow.id)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            out.setdefault(row.delivery_id, []).append(dict(row._mapping))
    return out


def test_pagerduty_outage_delivers_everything_after_recovery_trigger_before_resolve(
    setup: Fixture,
) -> None:
    bridge = setup.start_bridge()
    setup.pagerduty.fail_next(503, times=1_000_000)  # ended below by reset()
    firing = alerts_of(range(6))
    for a in firing:
        send_ok(bridge, payload(a))
    # Half resolve during the outage: their resolves queue behind triggers not yet sent.
    for a in firing[:3]:
        send_ok(bridge, payload(resolved(a)))
    # Slack is a separate channel: the PagerDuty outage holds none of its messages up.
    wait_until(
        lambda: all(
            r["status"] == "delivered"
            for r in delivery_rows(setup.engine)
            if r["channel"] == "slack"
        ),
        timeout=DELIVERY_TIMEOUT,
        what="Slack delivered during the PagerDuty outage",
        procs=[bridge],
    )
    time.sleep(PAGERDUTY_OUTAGE_SECONDS)  # the outage: let the pages retry for a while
    refused = sum(1 for r in setup.pagerduty.requests if r.status == 503)
    assert not setup.pagerduty.events
    setup.pagerduty.reset()  # PagerDuty is back (nothing was accepted during the outage)

    setup.wait_delivered(2 * len(firing) + 2 * 3, "every page and resolve after recovery")
    events: dict[str, list[str]] = {}
    for event in setup.pagerduty.events:
        events.setdefault(event["dedup_key"], []).append(event["event_action"])
    stored = stored_alerts(setup.engine)
    for a in firing:
        key = dedup_key(stored[key_of(a)]["fingerprint"])
        expected = ["trigger", "resolve"] if a in firing[:3] else ["trigger"]
        assert events.get(key) == expected, (a["labels"]["node"], events.get(key))
    # Every page was refused several times and retried, with backoff capped at 2 s.
    assert refused >= 3 * len(firing)
    for attempts in attempts_by_delivery(setup.engine, "pagerduty").values():
        outcomes = [a["outcome"] for a in attempts]
        assert outcomes[-1] == "delivered"
        if attempts[0]["http_status"] == 503:
            assert outcomes.count("retry") >= 3, outcomes
            gaps = [
                (b["started_at"] - a["started_at"]).total_seconds()
                for a, b in itertools.pairwise(attempts)
            ]
            assert max(gaps) < 2 + 3, f"backoff over its 2 s cap: {gaps}"


# -- (c) Slack rate limiting -------------------------------------------------------------------


def faults_served(slack: FakeSlack) -> int:
    return sum(1 for call in slack.calls_to("chat.postMessage") if call.fault)


def test_slack_rate_limiting_delays_but_loses_or_repeats_no_message(setup: Fixture) -> None:
    bridge = setup.start_bridge()
    group = alerts_of(range(4))  # one notification of four: one message listing them
    singles = alerts_of(range(4, 6), name="GPUXIDError")
    everything = group + singles

    # Phase 1: the posts are rate limited.
    limited = SLACK_429S_PER_ALERT * 3
    setup.slack.fail_next("chat.postMessage", status=429, times=limited, retry_after=1)
    send_ok(bridge, payload(*group))
    for a in singles:
        send_ok(bridge, payload(a))
    setup.wait_delivered(2 * len(everything), "every message posted despite the 429s")
    assert faults_served(setup.slack) == limited
    members = assert_one_slack_message_per_alert(setup.engine, setup.slack)
    assert sorted(len(keys) for keys in members.values()) == [1, 1, 4]

    # Phase 2: the resolves' thread replies are rate limited (their chat.update is not):
    # a retried resolve updates the message again, but must not reply twice.
    setup.slack.fail_next(
        "chat.postMessage", status=429, times=limited + SLACK_429S_PER_ALERT, retry_after=1
    )
    send_ok(bridge, payload(*[resolved(a) for a in group]))
    for a in singles:
        send_ok(bridge, payload(resolved(a)))
    setup.wait_delivered(4 * len(everything), "every resolve delivered despite the 429s")
    assert faults_served(setup.slack) == 2 * limited + SLACK_429S_PER_ALERT

    members = assert_one_slack_message_per_alert(setup.engine, setup.slack)
    assert_slack_resolved(setup.slack, members)
    # Retry-After: 1 was honoured: no Slack delivery was retried sooner.
    for attempts in attempts_by_delivery(setup.engine, "slack").values():
        for before, after in itertools.pairwise(attempts):
            if before["http_status"] == 429:
                gap = (after["started_at"] - before["started_at"]).total_seconds()
                assert gap >= 0.95, f"retried {gap:.2f}s after a 429 with Retry-After: 1"
    assert_one_page_per_alert(setup.pagerduty, setup.fingerprints(), resolved=True)


# -- (d) Prometheus stopped --------------------------------------------------------------------


def test_prometheus_down_pages_on_time_and_says_what_context_is_missing(setup: Fixture) -> None:
    # live_env points BRIDGE_PROMETHEUS_URL at a port nothing listens on.
    bridge = setup.start_bridge()
    sent = time.monotonic()
    send_ok(bridge, payload(alert(node=node_name(0))))
    [trigger] = setup.pagerduty.wait_for_events(1, timeout=DELIVERY_TIMEOUT)
    # The 2 s enrichment budget is not even needed: a refused connection fails at once.
    # Generous for a loaded machine, still far below any "late page".
    assert trigger["received_at"] - sent < 10.0
    details = trigger["payload"]["custom_details"]
    assert "Prometheus" in details["missing context"], details
    assert "GPUTemperatureCritical" in trigger["payload"]["summary"]
    [message] = setup.slack.wait_for_messages(1, timeout=DELIVERY_TIMEOUT)
    assert "Missing context" in str(message.blocks)


# -- (e) Alertmanager restarted ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_alertmanager_restart_delivers_alerts_before_and_after_it_once(
    setup: Fixture, how: str, peer_versions: PeerVersions
) -> None:
    bridge = setup.start_bridge()
    config = alertmanager_config(setup.tmp_path / "alertmanager.yml", [bridge.url])
    port = free_port()
    starts = datetime.now(UTC) - timedelta(seconds=30)
    before = TestAlert("GPUTemperatureCritical", node_name(0), starts)
    after = TestAlert("GPUTemperatureCritical", node_name(1), starts)

    am = start_alertmanager(config, setup.tmp_path, port, name="alertmanager", peers=peer_versions)
    try:
        post_to_alertmanagers([am.url], [before])
        setup.wait_delivered(2, "the alert sent before the restart")
    finally:
        # A restart keeps --storage.path (notification log, silences). SIGKILL also loses
        # what was not yet written to it; the alerts themselves are kept in memory only.
        if how == "sigkill":
            am.popen.kill()
            am.popen.wait(timeout=10)
        am.stop()

    am = start_alertmanager(config, setup.tmp_path, port, name="alertmanager", peers=peer_versions)
    try:
        # Prometheus re-sends what still fires (every resend delay) plus what is new.
        post_to_alertmanagers([am.url], [before, after])
        setup.wait_delivered(4, "the alert sent after the restart")
        stored = stored_alerts(setup.engine)
        # Alertmanager notified the bridge of the old alert again; dedup absorbed it.
        wait_until(
            lambda: stored_alerts(setup.engine)[before.key]["received_count"] >= 2,
            timeout=DELIVERY_TIMEOUT,
            what="the old alert re-sent after the restart",
            procs=[am, bridge],
        )
        post_to_alertmanagers([am.url], [before, after], resolved=True)
        setup.wait_delivered(8, "both resolves")
    finally:
        am.stop()
    stored = stored_alerts(setup.engine)
    assert sorted(stored) == sorted([before.key, after.key])
    assert_one_page_per_alert(setup.pagerduty, setup.fingerprints(), resolved=True)
    members = assert_one_slack_message_per_alert(setup.engine, setup.slack)
    assert_slack_resolved(setup.slack, members)
