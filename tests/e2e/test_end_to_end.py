"""End to end: a simulated fault becomes one page with context, and clearing it resolves it.

The stack is the demo's (scripts/demo.py, started by conftest.py): the simulator, the real
Prometheus and Alertmanager on this repository's own configuration (targets pointed at the
simulator, minutes shortened to seconds), one `alert-bridge serve` on SQLite, and the
PagerDuty and Slack replicas it sends to over TLS. Nothing between the fault and the replicas
is faked: rules, routing, inhibition, the webhook token, dedup, enrichment from Prometheus,
delivery, silences.

Every fault runs on a node of its own and all of them are injected at once (`faults`), so the
waits for scrapes, `for:`, group_wait and delivery overlap instead of adding up; each test
then looks at its own node only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from scripts.demo import Stack
from tests.fakes.slack import SlackMessage

pytestmark = pytest.mark.slow

# Alertmanager re-sends each firing alert every few seconds (conftest.REPEAT_INTERVAL); an
# alert the bridge has received this many times has been repeated at least twice.
RECEIVED_WITH_REPEATS = 3
MAINTENANCE_NODE = "dgx-spark-06"


@dataclass(frozen=True)
class Case:
    id: str
    node: str
    fault: str
    params: dict[str, object]
    alertname: str
    pages: bool  # critical: PagerDuty and Slack; warning: Slack only
    context: str  # a line enrichment adds from Prometheus (custom_details of the page)
    labels: dict[str, str] = field(default_factory=dict)  # what the alert must also carry

    @property
    def wanted(self) -> dict[str, str]:
        return {"alertname": self.alertname, "node": self.node, **self.labels}


# Odd nodes are GB10 (unified memory), even ones datacenter GPUs (conftest.E2E_NODES).
CASES = [
    Case(
        "overheat",
        "dgx-spark-01",
        "overheat",
        {"value": 92},
        "GPUTemperatureCritical",
        pages=True,
        context="GPU temperature",
        labels={"gpu": "0"},
    ),
    Case(
        "memory-pressure-gb10",
        "dgx-spark-03",
        "memory_pressure",
        {"value": 97},
        "GPUMemoryExhausted",
        pages=True,
        context="GPU memory",
        labels={"memory": "unified"},
    ),
    Case(
        "xid-79",
        "dgx-spark-05",
        "xid",
        {"code": 79},
        "GPUXIDError",
        pages=True,
        context="XID",
        labels={"xid": "79"},
    ),
    Case(
        "exporter-down",
        "dgx-spark-02",
        "exporter_down",
        {"exporter": "dcgm"},
        "ExporterDown",
        pages=False,
        context="exporters down",
        labels={"job": "dcgm"},
    ),
    Case(
        "node-down",
        "dgx-spark-04",
        "node_down",
        {},
        "DGXSparkNodeDown",
        pages=True,
        context="exporters down",
    ),
]


@pytest.fixture(scope="module")
def faults(stack: Stack) -> Stack:
    """The stack with every case's fault injected, each on its own node, at the same time."""
    for case in CASES:
        stack.sim.inject(case.node, case.fault, **case.params)
    return stack


# -- what arrived where ----------------------------------------------------------------------------


def pages(stack: Stack, wanted: dict[str, str]) -> list[dict[str, Any]]:
    """PagerDuty triggers of alerts with the `wanted` labels (in the page's custom_details)."""
    assert stack.pagerduty is not None
    return [
        event
        for event in stack.pagerduty.triggers()
        if wanted.items() <= event["payload"]["custom_details"].get("labels", {}).items()
    ]


def slack_messages(stack: Stack, alertname: str, node: str) -> list[SlackMessage]:
    """Top-level Slack messages about `alertname` on `node` (firing or, once updated, resolved)."""
    assert stack.slack is not None
    about = re.compile(rf"\b{alertname} on {re.escape(node)}\b")
    return [m for m in stack.slack.top_level() if about.search(m.text or "")]


def bridge_alert(stack: Stack, alertname: str, node: str | None = None) -> dict[str, Any] | None:
    """The bridge's record of an alert (`GET /alerts`): counters, deliveries, status."""
    return next(
        (
            a
            for a in stack.bridge_alerts()
            if a["alertname"] == alertname and (node is None or a["node"] == node)
        ),
        None,
    )


def received(stack: Stack, alertname: str, node: str | None = None) -> int:
    alert = bridge_alert(stack, alertname, node)
    return int(alert["received"]) if alert else 0


def first(items: Callable[[], list[Any]]) -> Callable[[], Any]:
    """A probe for `stack.wait`: the first of `items()`, or None while there is none."""
    return lambda: next(iter(items()), None)


def wait_for_notifications(stack: Stack, case: Case) -> tuple[dict[str, Any] | None, SlackMessage]:
    """The page (None for a warning) and the Slack message of the case's alert, once sent."""
    what = f"{case.alertname} on {case.node}"
    message = stack.wait(
        first(lambda: slack_messages(stack, case.alertname, case.node)),
        f"a Slack message about {what}",
    )
    page = None
    if case.pages:
        page = stack.wait(first(lambda: pages(stack, case.wanted)), f"a page for {what}")
    return page, message


# -- faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_a_fault_notifies_once_with_context_however_often_alertmanager_repeats_it(
    faults: Stack, case: Case
) -> None:
    page, message = wait_for_notifications(faults, case)
    # Alertmanager has now sent the alert again (repeat_interval); the bridge must have
    # counted those as duplicates, not notified again.
    faults.wait(
        lambda: received(faults, case.alertname, case.node) >= RECEIVED_WITH_REPEATS,
        f"Alertmanager to repeat {case.alertname} on {case.node}",
    )
    assert len(slack_messages(faults, case.alertname, case.node)) == 1
    assert len(pages(faults, case.wanted)) == (1 if case.pages else 0)
    # Context comes from the test Prometheus: the message has its section, the page the line.
    assert "*Context*" in json.dumps(message.blocks, ensure_ascii=False), message.blocks
    if page is not None:
        details = page["payload"]["custom_details"]
        assert details.get(case.context), f"no {case.context!r} in {details}"
        assert case.node in page["payload"]["summary"]
        assert page["payload"]["severity"] == "critical"


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_clearing_the_fault_resolves_the_page_and_updates_the_slack_message(
    faults: Stack, case: Case
) -> None:
    page, message = wait_for_notifications(faults, case)
    faults.sim.clear(node=case.node)
    assert faults.slack is not None and faults.pagerduty is not None
    slack = faults.slack

    def resolved_in_place() -> dict[str, Any] | None:
        return next((u for u in slack.updates(message.ts) if "RESOLVED" in u["text"]), None)

    def resolved_reply() -> str | None:
        replies = [r.text or "" for r in slack.replies(message.ts)]
        return next((text for text in replies if "resolved after" in text), None)

    faults.wait(resolved_in_place, f"chat.update of the message about {case.alertname}")
    # The thread reply is the resolve's second call, a moment after the update.
    faults.wait(resolved_reply, f"a 'resolved after' reply in the thread of {case.alertname}")
    # Updated in place: still one message about the alert, no second post.
    assert len(slack_messages(faults, case.alertname, case.node)) == 1
    if page is not None:
        pagerduty, key = faults.pagerduty, page["dedup_key"]
        faults.wait(
            lambda: [e for e in pagerduty.resolves() if e["dedup_key"] == key],
            f"PagerDuty resolve of {case.alertname}",
        )
        incident = pagerduty.incident(key)
        assert incident is not None and incident.status == "resolved"
        assert len([e for e in pagerduty.resolves() if e["dedup_key"] == key]) == 1


# -- maintenance windows ---------------------------------------------------------------------------


def create_window(stack: Stack, node: str) -> dict[str, Any]:
    response = requests.post(
        f"{stack.bridge.url}/silences",
        json={"node": node, "duration": "1h", "createdBy": "e2e", "comment": "firmware update"},
        headers={"Authorization": f"Bearer {stack.options.api_token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    window: dict[str, Any] = response.json()
    return window


def expire_window(stack: Stack, window_id: str) -> None:
    response = requests.delete(
        f"{stack.bridge.url}/silences/{window_id}",
        headers={"Authorization": f"Bearer {stack.options.api_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text


def am_silences_for(stack: Stack, node: str) -> list[dict[str, Any]]:
    """Active Alertmanager silences matching exactly `node`."""
    silences = requests.get(f"{stack.alertmanager.url}/api/v2/silences", timeout=10).json()
    return [
        s
        for s in silences
        if s["status"]["state"] == "active"
        and {"name": "node", "value": node, "isRegex": False, "isEqual": True} in s["matchers"]
    ]


def silenced_in_alertmanager(stack: Stack, alertname: str, node: str) -> dict[str, Any] | None:
    """The alert as Alertmanager holds it, once a silence holds it back."""
    params = [("filter", f'alertname="{alertname}"'), ("filter", f'node="{node}"')]
    alerts = requests.get(f"{stack.alertmanager.url}/api/v2/alerts", params=params, timeout=10)
    return next((a for a in alerts.json() if a["status"]["silencedBy"]), None)


def test_a_maintenance_window_on_a_node_keeps_its_fault_from_paging(stack: Stack) -> None:
    node, alertname = MAINTENANCE_NODE, "GPUTemperatureCritical"
    window = create_window(stack, node)
    silences = stack.wait(lambda: am_silences_for(stack, node), "the window in Alertmanager")
    stack.sim.inject(node, "overheat", value=92)

    held = stack.wait(
        lambda: silenced_in_alertmanager(stack, alertname, node),
        f"{alertname} on {node} to fire and be held by the window's silence",
    )
    assert held["status"]["silencedBy"] == [silences[0]["id"]]
    # Give Alertmanager time to flush that group a few times (it would have sent the page
    # by now): the Watchdog, re-sent every few seconds, counts Alertmanager's rounds.
    watchdogs = received(stack, "Watchdog")
    stack.wait(
        lambda: received(stack, "Watchdog") >= watchdogs + 2,
        "two more Watchdog notifications from Alertmanager",
    )
    assert pages(stack, {"node": node}) == []
    assert slack_messages(stack, alertname, node) == []
    assert bridge_alert(stack, alertname, node) is None

    # The window and nothing else held the page back: once it is expired, the page goes out.
    expire_window(stack, window["id"])
    stack.wait(
        first(lambda: pages(stack, {"alertname": alertname, "node": node})),
        f"the page for {alertname} on {node} once the window is expired",
    )
    stack.sim.clear(node=node)
