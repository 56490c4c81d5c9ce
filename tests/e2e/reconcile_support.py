"""A real Alertmanager on the project's alertmanager.yml, a real `alert-bridge serve` that
reconciles with it every second, and the PagerDuty and Slack replicas (issue 21).

The Alertmanager is started with tests/support/stack_procs.start_alertmanager, the helper
every real-peer test uses, so these tests run on whichever Alertmanager build it starts.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bridge.notify.pagerduty_event import dedup_key
from tests.e2e.conftest_ha import WEBHOOK_TOKEN, TestAlert, live_env, message_nodes
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import start_bridge
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, wait_until
from tests.support.stack_config import alertmanager_test_config
from tests.support.stack_procs import start_alertmanager

API_TOKEN = "reconcile-api-token-0123456789abcdef"
# Generous bounds of waits (2-core CI machine, several processes); the happy path is faster.
WAIT = 60.0
INTERVAL = "1s"


@dataclass
class Live:
    """One bridge and its Alertmanager(s); `restart_alertmanager` keeps the ports."""

    tmp_path: Path
    bridge: Proc
    alertmanagers: list[Proc]
    ports: list[int]
    config: Path
    pagerduty: FakePagerDuty
    slack: FakeSlack
    peers: PeerVersions | None = None  # the end of the supported range (peer_versions)
    generations: dict[int, int] = field(default_factory=dict)

    @property
    def am_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{p}" for p in self.ports]

    def stop_alertmanager(self, index: int = 0) -> None:
        self.alertmanagers[index].stop()

    def start_alertmanager(self, index: int = 0, *, fresh: bool = False) -> None:
        """Start it again on its port; `fresh`: without its data (silences, notification log)."""
        generation = self.generations.get(index, 0) + (1 if fresh else 0)
        self.generations[index] = generation
        self.alertmanagers[index] = start_alertmanager(
            self.config,
            self.tmp_path,
            self.ports[index],
            name=f"alertmanager-{index}-{generation}",
            peers=self.peers,
        )


def project_am_config(
    dest: Path, bridge_url: str, *, max_alerts: int | None = None, webhooks_lost: bool = False
) -> Path:
    """The shipped alertmanager.yml, pointed at `bridge_url` (optionally cut at `max_alerts`;
    with `webhooks_lost`, the bridge's receiver posts where nothing listens)."""
    config = alertmanager_test_config(dest, webhook_base_url=bridge_url, token=WEBHOOK_TOKEN)
    data = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    for receiver in data["receivers"]:
        if receiver["name"] == "alert-bridge":
            for webhook in receiver["webhook_configs"]:
                if max_alerts is not None:
                    webhook["max_alerts"] = max_alerts
                if webhooks_lost:
                    webhook["url"] = f"http://127.0.0.1:{free_port()}/webhook/alertmanager"
    config.path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config.path


@contextlib.contextmanager
def live_stack(
    tmp_path: Path,
    database_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    ca: TestCA,
    *,
    alertmanagers: int = 1,
    unread: int = 0,
    max_alerts: int | None = None,
    webhooks_lost: bool = False,
    peers: PeerVersions | None = None,
    **settings: str,
) -> Iterator[Live]:
    ports = [free_port() for _ in range(alertmanagers)]
    env = live_env(
        tmp_path,
        database_url,
        pagerduty,
        slack,
        ca,
        **{
            # `unread`: the last Alertmanagers send to the bridge but are missing here.
            "BRIDGE_ALERTMANAGER_URL": ",".join(
                f"http://127.0.0.1:{p}" for p in ports[: len(ports) - unread]
            ),
            "BRIDGE_API_TOKEN": API_TOKEN,
            "BRIDGE_RECONCILE_INTERVAL": INTERVAL,
            "BRIDGE_RECONCILE_GRACE": "2s",
            **settings,
        },
    )
    bridge = start_bridge(tmp_path, env)
    started: list[Proc] = []
    try:
        config = project_am_config(
            tmp_path / "am-config", bridge.url, max_alerts=max_alerts, webhooks_lost=webhooks_lost
        )
        for index, port in enumerate(ports):
            started.append(
                start_alertmanager(
                    config, tmp_path, port, name=f"alertmanager-{index}-0", peers=peers
                )
            )
        yield Live(tmp_path, bridge, started, ports, config, pagerduty, slack, peers)
    finally:
        for proc in started:
            proc.stop()
        bridge.stop()


# -- what the peers hold -----------------------------------------------------------------------


def post_alerts(
    urls: Sequence[str], alerts: Sequence[TestAlert], *, resolved: bool = False
) -> None:
    """As Prometheus posts: the same alerts to each Alertmanager, with endsAt ahead (firing)
    or just past (resolved)."""
    now = datetime.now(UTC)
    body = []
    for alert in alerts:
        item = alert.api_body(resolved=resolved)
        if not resolved:
            # Prometheus sets endsAt to about four resend intervals ahead.
            item["endsAt"] = (now + timedelta(minutes=4)).isoformat().replace("+00:00", "Z")
        body.append(item)
    for url in urls:
        response = requests.post(f"{url}/api/v2/alerts", json=body, timeout=10)
        assert response.status_code == 200, (url, response.status_code, response.text)


def am_listed(url: str, alert: TestAlert) -> dict[str, Any] | None:
    params = [("filter", f'{k}="{v}"') for k, v in alert.labels.items()]
    found = requests.get(f"{url}/api/v2/alerts", params=params, timeout=10).json()
    return found[0] if found else None


def am_fingerprint(url: str, alert: TestAlert) -> str:
    found = wait_until(
        lambda: am_listed(url, alert), timeout=WAIT, what=f"Alertmanager listing {alert.key}"
    )
    fingerprint: str = found["fingerprint"]
    return fingerprint


def am_silence(url: str, node: str) -> str:
    """A silence made in Alertmanager itself (its UI or amtool), not through the bridge."""
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "node", "value": node, "isRegex": False, "isEqual": True}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "on-call",
        "comment": "looking into it",
    }
    response = requests.post(f"{url}/api/v2/silences", json=body, timeout=10)
    assert response.status_code == 200, response.text
    silence_id: str = response.json()["silenceID"]
    return silence_id


def bridge_window(bridge_url: str, node: str) -> str:
    """A maintenance window through the bridge's /silences (what "Silence 1 h" does)."""
    response = requests.post(
        f"{bridge_url}/silences",
        json={"node": node, "duration": "1h", "createdBy": "on-call", "comment": "fixing it"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    window_id: str = response.json()["id"]
    return window_id


def bridge_alert(bridge_url: str, fingerprint: str) -> dict[str, Any] | None:
    alerts = requests.get(f"{bridge_url}/alerts", params={"limit": 500}, timeout=10).json()
    return next((a for a in alerts["alerts"] if a["fingerprint"] == fingerprint), None)


def metric(bridge_url: str, name: str, **labels: str) -> float:
    """A sample of the bridge's /metrics (0 when absent)."""
    text = requests.get(f"{bridge_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def rounds(bridge_url: str, outcome: str) -> float:
    return metric(bridge_url, "alert_bridge_reconcile_rounds_total", outcome=outcome)


OUTCOMES = ("ok", "failed", "grace", "error")


def all_rounds(bridge_url: str) -> float:
    return sum(rounds(bridge_url, outcome) for outcome in OUTCOMES)


def wait_rounds(live: Live, outcome: str | None, more: int) -> None:
    """Wait until `more` rounds with `outcome` (None: any) ran from now on."""

    def count() -> float:
        return all_rounds(live.bridge.url) if outcome is None else rounds(live.bridge.url, outcome)

    start = count()
    wait_until(
        lambda: count() >= start + more,
        timeout=WAIT,
        what=f"{more} more reconcile rounds with outcome {outcome or 'any'}",
        procs=[live.bridge],
    )


def wait_paged(live: Live, fingerprint: str) -> None:
    wait_paged_on(live.pagerduty, fingerprint, [live.bridge])


def wait_paged_on(pagerduty: FakePagerDuty, fingerprint: str, procs: Sequence[Proc]) -> None:
    key = dedup_key(fingerprint)
    wait_until(
        lambda: any(
            e["dedup_key"] == key and e["event_action"] == "trigger" for e in pagerduty.events
        ),
        timeout=WAIT,
        what=f"a page for {fingerprint}",
        procs=procs,
    )


def pd_actions(pagerduty: FakePagerDuty, fingerprint: str) -> list[str]:
    key = dedup_key(fingerprint)
    return [e["event_action"] for e in list(pagerduty.events) if e["dedup_key"] == key]


def slack_message_of(slack: FakeSlack, alert: TestAlert) -> SlackMessage:
    found = [
        m
        for m in slack.top_level()
        if alert.node in message_nodes(m) and alert.name in (m.text or "")
    ]
    assert len(found) == 1, f"{len(found)} top-level messages about {alert.key}"
    return found[0]
