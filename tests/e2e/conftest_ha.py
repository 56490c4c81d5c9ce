"""Shared pieces of the HA, fault and hostile-input tests (imported explicitly, not a conftest).

Fixtures are defined as `<name>_fixture` with `@pytest.fixture(name=...)`: a test module imports
the function (`from tests.e2e.conftest_ha import pagerduty_replica_fixture  # noqa: F401`) and
asks for the fixture by its name, so the parameter does not shadow the import.

Everything here is real except PagerDuty and Slack (the TLS replicas in tests/fakes): real
`alert-bridge serve` processes, real Alertmanagers, real SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import Engine, func, select, text

from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.db.models import AlertRow, AttemptRow, DeliveryRow
from bridge.notify.pagerduty_event import dedup_key
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import bridge_env
from tests.support.procs import Proc, free_port

ROUTING_KEY = "HAe2eR0UT1NGKEY0123456789abcdefZ"  # 32 characters, as PagerDuty requires
SLACK_TOKEN = "xoxb-e2e-ha-token"
SLACK_CHANNEL = "#alerts"
WEBHOOK_TOKEN = "e2e-webhook-token"
WEBHOOK_PATH = "/webhook/alertmanager"

# Timeouts are generous: these tests run several Python processes, Alertmanagers and
# PostgreSQL on a 2-core CI machine. They bound a wait; the happy path is much faster.
DELIVERY_TIMEOUT = 60.0
# A killed replica's claimed rows come back when their lease (bridge.store.outbox.LEASE,
# 60 s) runs out; waits that include a lease take this long at most.
LEASE_TIMEOUT = 150.0


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(name="replica_ca", scope="session")
def replica_ca_fixture() -> Iterator[TestCA]:
    ca = TestCA()
    yield ca
    ca.cleanup()


@pytest.fixture(name="pagerduty_replica")
def pagerduty_replica_fixture(replica_ca: TestCA) -> Iterator[FakePagerDuty]:
    with FakePagerDuty(replica_ca, routing_keys={ROUTING_KEY}) as fake:
        yield fake


@pytest.fixture(name="slack_replica")
def slack_replica_fixture(replica_ca: TestCA) -> Iterator[FakeSlack]:
    with FakeSlack(replica_ca, token=SLACK_TOKEN) as fake:
        yield fake


@pytest.fixture(name="pg_url")
def pg_url_fixture(postgres_session_url: str) -> str:
    """This session's PostgreSQL database with an empty schema (as tests/conftest.py does)."""
    engine = make_engine(postgres_session_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return postgres_session_url


@pytest.fixture(name="sqlite_url")
def sqlite_url_fixture(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/bridge.db"


def migrated_engine(url: str) -> Engine:
    """An engine for the test's own reads; migrated first, so replicas start on one schema."""
    engine = make_engine(url)
    upgrade(engine)
    return engine


# -- bridge processes --------------------------------------------------------------------------


def live_env(
    tmp_path: Path,
    database_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    ca: TestCA,
    **overrides: str,
) -> dict[str, str]:
    """Environment of a bridge that pages the replicas for real (no dry-run)."""
    config = tmp_path / "bridge-config.yml"
    # Channel summaries off: a first start posts one, and every Slack top-level message in
    # these tests must be an alert's.
    config.write_text("digest:\n  schedules: []\n", encoding="utf-8")
    settings = {
        "BRIDGE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "BRIDGE_PAGERDUTY_EVENTS_URL": pagerduty.url,
        "BRIDGE_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "BRIDGE_SLACK_CHANNEL": SLACK_CHANNEL,
        "BRIDGE_SLACK_API_URL": slack.api_url,
        "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
        "BRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
        "BRIDGE_CONFIG": str(config),
        # Nothing listens there: enrichment fails at once instead of waiting out its budget,
        # and no test depends on a Prometheus that happens to run on this machine.
        "BRIDGE_PROMETHEUS_URL": f"http://127.0.0.1:{closed_port()}",
        "BRIDGE_ALERTMANAGER_URL": f"http://127.0.0.1:{closed_port()}",
        "BRIDGE_WATCHDOG_TIMEOUT": "1h",
        "BRIDGE_LOG_LEVEL": "INFO",
    }
    return bridge_env(tmp_path, database_url, **{**settings, **overrides})


def closed_port() -> int:
    """A port nothing listens on (connections are refused at once)."""
    return free_port()


def _process_tree(root: int) -> list[int]:
    """`root` and all its descendants, read from /proc (parents before children)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # The command name is in parentheses and may contain spaces; fields follow it.
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def delivering_bridge(engine: Engine, bridges: Sequence[Proc], channel: str) -> Proc | None:
    """A bridge whose delivery process has a `channel` row in flight right now, if any.

    A row's `claimed_by` is `<host>-<pid>-<random>` of the claiming process, which is the
    bridge's delivery child: found among each bridge's process tree.
    """
    with engine.connect() as conn:
        claimers = conn.execute(
            select(DeliveryRow.claimed_by).where(
                DeliveryRow.status == "in_flight", DeliveryRow.channel == channel
            )
        ).scalars()
        pids = {int(c.rsplit("-", 2)[1]) for c in claimers if c}
    return next((b for b in bridges if b.alive and pids & set(_process_tree(b.popen.pid))), None)


def kill_bridge(proc: Proc) -> None:
    """SIGKILL the bridge and its delivery child at once, like `docker kill` or a lost node.

    Killing only the web process would let the delivery child notice and finish its
    in-flight work gracefully; a real crash gives nobody that chance.
    """
    for pid in _process_tree(proc.popen.pid):
        with contextlib.suppress(ProcessLookupError):  # exited meanwhile
            os.kill(pid, signal.SIGKILL)
    proc.popen.wait(timeout=10)
    proc.stop()  # closes the log file; the process is already gone


def post_webhook(
    url: str, body: Any, *, token: str = WEBHOOK_TOKEN, timeout: float = 30.0
) -> requests.Response:
    return requests.post(
        f"{url}{WEBHOOK_PATH}",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        timeout=timeout,
    )


# -- Alertmanager ------------------------------------------------------------------------------


def alertmanager_config(
    path: Path,
    bridge_urls: Sequence[str],
    *,
    group_by: Sequence[str] = ("alertname",),
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str = "1m",
) -> Path:
    """An alertmanager.yml whose one receiver posts every notification to every bridge.

    That is how an HA deployment without a load balancer is wired (README, "Running several
    replicas"): each Alertmanager of the pair sends to each replica, so every replica sees
    every notification and a dead replica loses nothing.
    """
    webhooks = [
        {
            "url": f"{url}{WEBHOOK_PATH}",
            "send_resolved": True,
            "max_alerts": 100,
            "http_config": {"authorization": {"type": "Bearer", "credentials": WEBHOOK_TOKEN}},
        }
        for url in bridge_urls
    ]
    config = {
        "route": {
            "receiver": "alert-bridge",
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [{"name": "alert-bridge", "webhook_configs": webhooks}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class TestAlert:
    """An alert as Prometheus would post it to Alertmanager's API."""

    __test__ = False  # not a pytest test class

    name: str
    node: str
    starts_at: datetime
    gpu: str = "0"
    severity: str = "critical"

    @property
    def key(self) -> str:
        return f"{self.node}/{self.name}"

    @property
    def labels(self) -> dict[str, str]:
        return {
            "alertname": self.name,
            "severity": self.severity,
            "node": self.node,
            "gpu": self.gpu,
        }

    def api_body(self, *, resolved: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "labels": self.labels,
            "annotations": {
                "summary": f"{self.name} on {self.node}",
                "value": "91 °C",
                "threshold": "85 °C",
            },
            # Prometheus sends the rule's activeAt; both peers of a pair get the same one.
            "startsAt": rfc3339(self.starts_at),
            "generatorURL": "http://prometheus:9090/graph?g0.expr=DCGM_FI_DEV_GPU_TEMP",
        }
        if resolved:
            body["endsAt"] = rfc3339(datetime.now(UTC) - timedelta(seconds=1))
        return body


def post_to_alertmanagers(
    urls: Sequence[str], alerts: Sequence[TestAlert], *, resolved: bool = False
) -> None:
    """What Prometheus does: post the same alerts to every Alertmanager of the pair."""
    body = [a.api_body(resolved=resolved) for a in alerts]
    for url in urls:
        response = requests.post(f"{url}/api/v2/alerts", json=body, timeout=10)
        assert response.status_code == 200, (url, response.status_code, response.text)


# -- what the bridge stored --------------------------------------------------------------------


def stored_alerts(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every alert row by `node/alertname` (`TestAlert.key`; each test alert has its own)."""
    with engine.connect() as conn:
        rows = conn.execute(select(AlertRow.__table__))
        return {f"{r.node}/{r.alertname}": dict(r._mapping) for r in rows}


def delivery_rows(engine: Engine) -> list[dict[str, Any]]:
    """Delivery rows, each with `recorded_attempts`: attempts that recorded an outcome."""
    recorded = (
        select(func.count())
        .select_from(AttemptRow)
        .where(AttemptRow.delivery_id == DeliveryRow.id)
        .scalar_subquery()
    )
    query = select(DeliveryRow.__table__, recorded.label("recorded_attempts"))
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query.order_by(DeliveryRow.id))]


def all_delivered(engine: Engine, expected: int) -> bool:
    """`expected` delivery rows exist and every one is delivered (none pending, dead...)."""
    rows = delivery_rows(engine)
    return len(rows) == expected and all(r["status"] == "delivered" for r in rows)


def abandoned(rows: Sequence[dict[str, Any]], channel: str) -> set[str]:
    """Fingerprints whose `channel` delivery a killed process claimed without an outcome.

    A claim counts an attempt at once; the outcome is recorded after the vendor answered.
    Only such a row can have reached the vendor without the bridge knowing, so only it may
    be sent again (at-least-once, after its lease ran out). Nothing else may arrive twice.
    """
    return {
        r["snapshot"]["fingerprint"]
        for r in rows
        if r["channel"] == channel and r["attempts"] > r["recorded_attempts"]
    }


# -- what the replicas saw ---------------------------------------------------------------------

_NODE = re.compile(r"dgx-spark-\d{3}")


def node_name(i: int) -> str:
    """Fixed width, so that no node's name is part of another's (found by `_NODE`)."""
    return f"dgx-spark-{i:03d}"


def pd_events_by_key(pagerduty: FakePagerDuty) -> dict[str, list[str]]:
    """dedup_key -> event actions in arrival order."""
    out: dict[str, list[str]] = {}
    for event in list(pagerduty.events):
        out.setdefault(event["dedup_key"], []).append(event["event_action"])
    return out


def assert_one_page_per_alert(
    pagerduty: FakePagerDuty,
    fingerprints: Collection[str],
    *,
    resolved: bool,
    may_repeat: Collection[str] = (),
) -> None:
    """Each alert opened exactly one PagerDuty incident, and nothing else was paged.

    Its trigger arrived once (for `may_repeat` fingerprints at least once: a request in
    flight when a bridge was killed), and with `resolved` the incident was then resolved
    once, after its trigger; without, it is still open.
    """
    events = pd_events_by_key(pagerduty)
    by_key = {dedup_key(fp): fp for fp in fingerprints}
    assert sorted(events) == sorted(by_key), "pages for unknown alerts, or missing pages"
    for key, actions in events.items():
        fingerprint = by_key[key]
        triggers = actions.count("trigger")
        assert triggers == 1 or (triggers > 1 and fingerprint in may_repeat), (key, actions)
        history = pagerduty.incidents[key]
        assert len(history) == 1, f"{key}: {len(history)} incidents, a duplicate page"
        if resolved:
            assert actions.count("resolve") == 1, (key, actions)
            assert actions[-1] == "resolve", f"{key}: resolve overtook a trigger: {actions}"
            assert history[0].status == "resolved", key
        else:
            assert "resolve" not in actions, (key, actions)


def message_nodes(message: SlackMessage) -> set[str]:
    """Which test nodes a Slack message is about (from its blocks and fallback text)."""
    return set(_NODE.findall(json.dumps(message.blocks) + (message.text or "")))


def assert_one_slack_message_per_alert(
    engine: Engine, slack: FakeSlack, *, may_repeat: Collection[str] = ()
) -> dict[str, list[str]]:
    """Every alert is in exactly one top-level message, and no top-level message is extra.

    The bridge posts one message per alert, or one listing them when a notification brings
    four or more new alerts; each alert row stores which message (`slack_ts`) is its own.
    `may_repeat` names fingerprints whose post was in flight when a bridge was killed: a
    second message about them may exist. Returns message ts -> the alerts it lists.
    """
    alerts = stored_alerts(engine)
    top = {m.ts: m for m in slack.top_level()}
    members: dict[str, list[str]] = {}
    for key, row in alerts.items():
        ts = row["slack_ts"]
        assert ts in top, f"{key}: its message {ts!r} is not in the channel"
        assert row["node"] in message_nodes(top[ts]), f"{key} is not listed in its message"
        members.setdefault(ts, []).append(key)
    repeatable = {row["node"] for row in alerts.values() if row["fingerprint"] in may_repeat}
    for ts, message in top.items():
        if ts not in members:
            nodes = message_nodes(message)
            assert nodes and nodes <= repeatable, f"extra top-level message about {nodes}"
    return members


def assert_slack_resolved(slack: FakeSlack, members: dict[str, list[str]]) -> None:
    """Each alert message was updated to say resolved, with one thread reply per alert."""
    for ts, keys in members.items():
        message = slack.message(ts)
        assert message is not None and message.blocks
        header = message.blocks[0]["text"]["text"]
        assert "RESOLVED" in header or "resolved" in header, f"{keys}: still says {header!r}"
        assert slack.updates(ts), f"{keys}: the message was never updated"
        replies = [r.text or "" for r in slack.replies(ts) if "resolved after" in (r.text or "")]
        assert len(replies) == len(keys), f"{keys}: {len(replies)} resolved replies"
