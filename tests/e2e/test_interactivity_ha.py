"""Two replicas on one PostgreSQL database receive the same click at the same moment.

Slack delivers a click to one URL, but a load balancer, a retry after a timeout or a
client's double click can bring the same act to both replicas at once. Exactly one of
them acts: one PagerDuty acknowledge, one maintenance window, one thread line each.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, func, select

from bridge.db.models import DeliveryRow, InteractionRow, WindowRow
from tests.e2e.conftest_ha import (
    DELIVERY_TIMEOUT,
    live_env,
    migrated_engine,
    pagerduty_replica_fixture,  # noqa: F401
    pg_url_fixture,  # noqa: F401
    post_webhook,
    replica_ca_fixture,  # noqa: F401
    slack_replica_fixture,  # noqa: F401
)
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import SignedRequest, slack_request
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import start_bridge
from tests.support.payloads import alert, payload
from tests.support.procs import Proc, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SLACK_SECRET = "ha-slack-signing-secret-0123456789"
# Copies of each click sent at once: two to each replica (a retry racing its original).
COPIES_PER_REPLICA = 2


@dataclass
class Pair:
    bridges: list[Proc]
    engine: Engine


@pytest.fixture
def pair(
    tmp_path: Path,
    pg_url: str,
    pagerduty_replica: FakePagerDuty,
    slack_replica: FakeSlack,
    replica_ca: TestCA,
) -> Iterator[Pair]:
    engine = migrated_engine(pg_url)
    env = live_env(
        tmp_path,
        pg_url,
        pagerduty_replica,
        slack_replica,
        replica_ca,
        BRIDGE_SLACK_SIGNING_SECRET=SLACK_SECRET,
    )
    bridges: list[Proc] = []
    try:
        for name in ("bridge-a", "bridge-b"):
            bridges.append(start_bridge(tmp_path, env, name=name))
        yield Pair(bridges, engine)
    finally:
        for bridge in bridges:
            bridge.stop()
        engine.dispose()


def send_everywhere_at_once(bridges: list[Proc], signed: SignedRequest) -> list[int]:
    """POST the same signed request to every replica, several times, all at one moment."""
    targets = [b.url for b in bridges for _ in range(COPIES_PER_REPLICA)]
    start = threading.Barrier(len(targets))
    statuses: list[int] = []

    def send(url: str) -> None:
        start.wait()
        answer = requests.post(
            f"{url}/slack/interactions", data=signed.body, headers=signed.headers, timeout=30
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=(url,)) for url in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def count(engine: Engine, model: type, **where: str) -> int:
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def settled(engine: Engine) -> bool:
    """Every outbox row finished (delivered): nothing more is coming."""
    with engine.connect() as conn:
        states = set(conn.execute(select(DeliveryRow.status)).scalars())
    return states == {"delivered"}


def test_the_same_click_on_two_replicas_at_once_acknowledges_once_and_silences_once(
    pair: Pair, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    procs = pair.bridges
    assert post_webhook(procs[0].url, payload(alert(node="dgx-spark-ha1"))).status_code == 200
    message = wait_until(
        lambda: next(iter(slack_replica.top_level()), None),
        timeout=DELIVERY_TIMEOUT,
        what="the alert's Slack message",
        procs=procs,
    )
    wait_until(pagerduty_replica.triggers, timeout=DELIVERY_TIMEOUT, what="the page", procs=procs)

    ack = slack_request(SLACK_SECRET, slack_replica.click_payload(message.ts, "ack"))
    silence = slack_request(
        SLACK_SECRET,
        slack_replica.click_payload(message.ts, "silence", option="The whole node, 2 h"),
    )
    for signed in (ack, silence):
        assert send_everywhere_at_once(procs, signed) == [200] * 2 * COPIES_PER_REPLICA

    wait_until(
        lambda: pagerduty_replica.acknowledges() and settled(pair.engine),
        timeout=DELIVERY_TIMEOUT,
        what="the acknowledge and the message update delivered",
        procs=procs,
    )
    assert len(pagerduty_replica.acknowledges()) == 1
    assert count(pair.engine, WindowRow) == 1
    assert count(pair.engine, InteractionRow) == 2
    assert count(pair.engine, DeliveryRow, action="acknowledge") == 1
    assert count(pair.engine, DeliveryRow, action="state") == 2
    assert len(slack_replica.replies(message.ts)) == 2
    for bridge in procs:  # both replicas list the one window
        listed = requests.get(f"{bridge.url}/silences", timeout=10).json()["silences"]
        assert len(listed) == 1 and listed[0]["createdBy"] == "jane.oncall (Slack U0ONCALL1)"


def test_the_same_storm_click_on_two_replicas_at_once_acknowledges_once_and_silences_once(
    pair: Pair, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    """Issue 26: a storm's buttons keep the alert loop's guarantees across replicas."""
    procs = pair.bridges
    storm = [
        alert("GPUTemperatureCritical", node=f"dgx-spark-h{i:02}", fingerprint=f"ha-storm-{i:02}")
        for i in range(16)
    ]
    assert post_webhook(procs[0].url, payload(*storm)).status_code == 200
    message = wait_until(
        lambda: next((m for m in slack_replica.top_level() if "storm" in (m.text or "")), None),
        timeout=DELIVERY_TIMEOUT,
        what="the storm's Slack message",
        procs=procs,
    )
    ack = slack_request(SLACK_SECRET, slack_replica.click_payload(message.ts, "ack"))
    silence = slack_request(
        SLACK_SECRET,
        slack_replica.click_payload(
            message.ts, "silence", option="This alert name on the storm's nodes only, 1 h"
        ),
    )
    for signed in (ack, silence):
        assert send_everywhere_at_once(procs, signed) == [200] * 2 * COPIES_PER_REPLICA

    wait_until(
        lambda: pagerduty_replica.acknowledges() and settled(pair.engine),
        timeout=DELIVERY_TIMEOUT,
        what="the storm's acknowledge and message updates delivered",
        procs=procs,
    )
    (acknowledge,) = pagerduty_replica.acknowledges()
    assert "/storm/GPUTemperatureCritical/" in acknowledge["dedup_key"]
    assert count(pair.engine, WindowRow) == 1
    assert count(pair.engine, InteractionRow) == 2
    assert count(pair.engine, DeliveryRow, action="storm_ack") == 1
    assert count(pair.engine, DeliveryRow, action="storm_state") == 2
    assert len(slack_replica.replies(message.ts)) == 2
    for bridge in procs:  # both replicas list the one window
        listed = requests.get(f"{bridge.url}/silences", timeout=10).json()["silences"]
        assert len(listed) == 1 and listed[0]["createdBy"] == "jane.oncall (Slack U0ONCALL1)"
