"""High availability: an Alertmanager HA pair, two bridge replicas, one PostgreSQL database.

Wired as an HA deployment without a load balancer is: each Alertmanager's receiver has one
webhook per replica, so each replica sees every notification, and the pair runs with a
peer timeout of 0, so both Alertmanagers send every notification (what a real pair does
whenever gossip lags or the peers are partitioned). Every notification thus reaches the
bridges four times, concurrently; PagerDuty must still see one trigger and one resolve per
alert and Slack one message per alert (or per group of four or more).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine, text

from bridge.db.engine import make_engine
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
    delivering_bridge,
    delivery_rows,
    kill_bridge,
    live_env,
    migrated_engine,
    node_name,
    pagerduty_replica_fixture,  # noqa: F401
    pg_url_fixture,  # noqa: F401
    post_to_alertmanagers,
    replica_ca_fixture,  # noqa: F401
    slack_replica_fixture,  # noqa: F401
    stored_alerts,
)
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import start_bridge
from tests.support.peers import PeerVersions
from tests.support.procs import REPO_ROOT, Proc, free_port, wait_until
from tests.support.stack_procs import start_alertmanager

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

# Both peers notify at once instead of the second waiting for the first's gossip.
PEER_TIMEOUT = "0s"
# Longer than group_interval (2 s) with margin: a quiet pair has sent everything.
QUIET_SECONDS = 5.0
KILL_AFTER_WAVE = 3


@dataclass
class Deployment:
    alertmanagers: list[Proc]
    bridges: list[Proc]
    engine: Engine

    @property
    def am_urls(self) -> list[str]:
        return [am.url for am in self.alertmanagers]

    @property
    def procs(self) -> list[Proc]:
        return [*self.alertmanagers, *(b for b in self.bridges if b.alive)]


def cluster_formed(am: Proc) -> bool:
    status = requests.get(f"{am.url}/api/v2/status", timeout=5).json()
    cluster = status.get("cluster", {})
    return cluster.get("status") == "ready" and len(cluster.get("peers") or []) == 2


@pytest.fixture
def deployment(
    tmp_path: Path,
    pg_url: str,
    pagerduty_replica: FakePagerDuty,
    slack_replica: FakeSlack,
    replica_ca: TestCA,
    peer_versions: PeerVersions,
) -> Iterator[Deployment]:
    # Migrated before the replicas start: starting them on an empty database at the same
    # moment is its own test (test_replicas_starting_together_on_an_empty_database_...).
    engine = migrated_engine(pg_url)
    # These tests count one page per alert, and their waves cross the storm threshold
    # (10 changes of a name): storm folding across replicas has tests of its own
    # (tests/integration/test_storm_folding.py).
    env = live_env(
        tmp_path, pg_url, pagerduty_replica, slack_replica, replica_ca, BRIDGE_STORM_FOLD="off"
    )
    bridges = [start_bridge(tmp_path, env, name=f"bridge-{n}") for n in ("a", "b")]
    config = alertmanager_config(tmp_path / "alertmanager.yml", [b.url for b in bridges])
    cluster_ports = [free_port(), free_port()]
    alertmanagers: list[Proc] = []
    try:
        for i, name in enumerate(("am-1", "am-2")):
            alertmanagers.append(
                start_alertmanager(
                    config,
                    tmp_path,
                    free_port(),
                    cluster_port=cluster_ports[i],
                    cluster_peers=[cluster_ports[1 - i]],
                    extra_args=[f"--cluster.peer-timeout={PEER_TIMEOUT}"],
                    name=name,
                    peers=peer_versions,
                )
            )
        for am in alertmanagers:
            wait_until(partial(cluster_formed, am), timeout=60, what="the HA pair", procs=[am])
        yield Deployment(alertmanagers, bridges, engine)
    finally:
        for proc in [*alertmanagers, *bridges]:
            proc.stop()
        engine.dispose()


def all_stored(engine: Engine, keys: set[str]) -> bool:
    return keys <= set(stored_alerts(engine))


def settle(deployment: Deployment, rows: int, what: str, timeout: float = DELIVERY_TIMEOUT) -> None:
    """Until `rows` deliveries are delivered and no more copies of notifications arrive.

    "Exactly once" can only be judged once every copy that is coming has arrived. Nothing is
    re-sent before repeat_interval (1 min) unless a group changes, and a change is sent
    within group_interval (2 s): when the replicas received nothing for QUIET_SECONDS (the
    alerts' received counters stood still), everything is in.
    """
    last: dict[str, Any] = {"received": -1, "since": time.monotonic()}

    def settled() -> bool:
        received = sum(r["received_count"] for r in stored_alerts(deployment.engine).values())
        if received != last["received"]:
            last.update(received=received, since=time.monotonic())
        quiet = time.monotonic() - last["since"] >= QUIET_SECONDS
        return quiet and all_delivered(deployment.engine, rows)

    wait_until(settled, timeout=timeout, what=what, procs=deployment.procs)


def test_two_alertmanagers_and_two_replicas_page_and_post_each_alert_once(
    deployment: Deployment, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    # Starting now, not in the past: Alertmanager flushes a new group at once when its
    # first alert started more than group_wait ago (dispatch.go, aggrGroup.insert), and
    # that flush can catch one of the six alerts before the others are inserted (seen
    # once on 0.33.1: [1, 1, 1, 5]). Starting now, group_wait (1 s) holds the group.
    starts = datetime.now(UTC)
    # Six alerts in one group (one Slack message listing them), two in another (two
    # messages: fewer than four new alerts are posted one by one).
    hot = [TestAlert("GPUTemperatureCritical", node_name(i), starts) for i in range(6)]
    xid = [TestAlert("GPUXIDError", node_name(i), starts) for i in range(6, 8)]
    alerts = hot + xid
    post_to_alertmanagers(deployment.am_urls, alerts)

    settle(deployment, 2 * len(alerts), "a page and a Slack message per alert")
    stored = stored_alerts(deployment.engine)
    assert sorted(stored) == sorted(a.key for a in alerts)
    # Each replica got every notification (usually from both Alertmanagers: four copies),
    # and dedup turned the copies into counters.
    assert all(row["received_count"] >= 2 for row in stored.values()), {
        k: r["received_count"] for k, r in stored.items()
    }
    fingerprints = [row["fingerprint"] for row in stored.values()]
    assert_one_page_per_alert(pagerduty_replica, fingerprints, resolved=False)
    first_posts = assert_one_slack_message_per_alert(deployment.engine, slack_replica)

    post_to_alertmanagers(deployment.am_urls, alerts, resolved=True)
    settle(deployment, 4 * len(alerts), "a resolve per alert and channel")
    assert_one_page_per_alert(pagerduty_replica, fingerprints, resolved=True)
    members = assert_one_slack_message_per_alert(deployment.engine, slack_replica)
    assert_slack_resolved(slack_replica, members)
    # Last, so that a failure here does not hide the rest: the six new alerts of one
    # notification are one message listing them, however many workers claim at once.
    sizes = sorted(len(keys) for keys in first_posts.values())
    assert sizes == [1, 1, 6], f"alerts per Slack message: {sizes}"


# About the bridge's replicas, not the Alertmanager pair (whose part, one page per alert from
# two peers, the test above runs on both ends): 80 s per run, so the oldest end only.
@pytest.mark.peer_ends("oldest")
def test_a_replica_killed_while_alerts_flow_loses_nothing_and_pages_nothing_twice(
    deployment: Deployment, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    # Slow pages keep deliveries in flight, so the kill catches the replica mid-request
    # with more rows claimed: the survivor must take those over when their lease ends.
    pagerduty_replica.set_latency(1.0)
    starts = datetime.now(UTC) - timedelta(seconds=30)
    names = ("GPUTemperatureCritical", "GPUXIDError")
    waves = [
        [TestAlert(names[w % 2], node_name(3 * w + i), starts) for i in range(3)] for w in range(8)
    ]
    posted: list[TestAlert] = []
    victim: Proc | None = None
    for number, wave in enumerate(waves):
        post_to_alertmanagers(deployment.am_urls, wave)
        posted += wave
        if number == KILL_AFTER_WAVE:
            # Right after the Alertmanagers got this wave (it may reach the victim or not),
            # the replica that is paging right now dies: it has rows claimed and a request
            # in flight that PagerDuty may or may not have received.
            victim = wait_until(
                lambda: delivering_bridge(deployment.engine, deployment.bridges, "pagerduty"),
                timeout=DELIVERY_TIMEOUT,
                what="a replica in the middle of a delivery",
                procs=deployment.procs,
            )
            kill_bridge(victim)
            continue
        # Pace the flow on the bridges, not a clock: the next wave once this one is stored.
        wait_until(
            partial(all_stored, deployment.engine, {a.key for a in posted}),
            timeout=DELIVERY_TIMEOUT,
            what=f"wave {number} stored",
            procs=deployment.procs,
        )
    assert victim is not None and not victim.alive
    assert any(b.alive for b in deployment.bridges)

    settle(deployment, 2 * len(posted), "every alert paged and posted", LEASE_TIMEOUT)
    # Rows the victim had claimed were delivered by the survivor once their lease ran out;
    # only those may have reached PagerDuty or Slack twice.
    rows = delivery_rows(deployment.engine)
    paged_twice, posted_twice = abandoned(rows, "pagerduty"), abandoned(rows, "slack")
    assert paged_twice
    stored = stored_alerts(deployment.engine)
    assert sorted(stored) == sorted(a.key for a in posted)
    fingerprints = [row["fingerprint"] for row in stored.values()]
    assert_one_page_per_alert(
        pagerduty_replica, fingerprints, resolved=False, may_repeat=paged_twice
    )
    assert_one_slack_message_per_alert(deployment.engine, slack_replica, may_repeat=posted_twice)

    pagerduty_replica.set_latency(0)
    post_to_alertmanagers(deployment.am_urls, posted, resolved=True)
    settle(deployment, 4 * len(posted), "every resolve delivered by the surviving replica")
    assert_one_page_per_alert(
        pagerduty_replica, fingerprints, resolved=True, may_repeat=paged_twice
    )
    members = assert_one_slack_message_per_alert(
        deployment.engine, slack_replica, may_repeat=posted_twice
    )
    assert_slack_resolved(slack_replica, members)


def test_replicas_starting_together_on_an_empty_database_all_come_up(pg_url: str) -> None:
    """A deployment starts every replica at once, and each applies migrations at start.

    `alert-bridge db upgrade` is what `serve` runs first; three of them at the same moment
    on an empty database, a few rounds, as a rollout of three replicas would.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_DATABASE_URL"] = pg_url
    engine = make_engine(pg_url)
    try:
        for _ in range(3):
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
            upgrades = [
                subprocess.Popen(
                    [sys.executable, "-m", "bridge", "db", "upgrade"],
                    cwd=REPO_ROOT,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for _ in range(3)
            ]
            outputs = [p.communicate(timeout=60)[0].decode() for p in upgrades]
            # The exception line of each failure, e.g. UniqueViolation on alembic_version.
            failed = [
                [line for line in out.splitlines() if "Error" in line][-1:]
                for p, out in zip(upgrades, outputs, strict=True)
                if p.returncode != 0
            ]
            assert not failed, f"replicas failed to start on a fresh database: {failed}"
    finally:
        engine.dispose()
