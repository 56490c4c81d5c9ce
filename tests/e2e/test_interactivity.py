"""End to end: on-call acts from Slack and PagerDuty, and the bridge keeps both in step.

A real Alertmanager routes a firing alert to a real `alert-bridge serve` (SQLite), which
pages the PagerDuty replica and posts to the Slack replica. Clicks are built from the
message the Slack replica holds and signed as Slack signs them; PagerDuty v3 events are
signed as PagerDuty signs them. The bridge's window becomes a silence in that Alertmanager.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest_ha import (
    DELIVERY_TIMEOUT,
    TestAlert,
    alertmanager_config,
    live_env,
    migrated_engine,
    pagerduty_replica_fixture,  # noqa: F401
    post_to_alertmanagers,
    replica_ca_fixture,  # noqa: F401
    slack_replica_fixture,  # noqa: F401
    sqlite_url_fixture,  # noqa: F401
)
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import (
    SignedRequest,
    pagerduty_incident_event,
    pagerduty_note_event,
    pagerduty_request,
    slack_request,
)
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import start_bridge
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, wait_until
from tests.support.stack_procs import start_alertmanager

pytestmark = pytest.mark.slow

SLACK_SECRET = "e2e-slack-signing-secret-0123456789"
PD_SECRET = "e2e-pagerduty-webhook-secret"
API_TOKEN = "e2e-api-token-0123456789abcdef-tests"
ALERTNAME = "GPUTemperatureCritical"
NODE = "dgx-spark-007"
ONE_HOUR = "This alert on this node, 1 h"
USER = {"user_id": "U0JANE", "user_name": "jane"}
CREATED_BY = "jane (Slack U0JANE)"


@dataclass
class Running:
    bridge: Proc
    alertmanager: Proc

    @property
    def procs(self) -> list[Proc]:
        return [self.bridge, self.alertmanager]


@pytest.fixture
def running(
    tmp_path: Path,
    sqlite_url: str,
    pagerduty_replica: FakePagerDuty,
    slack_replica: FakeSlack,
    replica_ca: TestCA,
    peer_versions: PeerVersions,
) -> Iterator[Running]:
    migrated_engine(sqlite_url).dispose()
    am_port = free_port()
    env = live_env(
        tmp_path,
        sqlite_url,
        pagerduty_replica,
        slack_replica,
        replica_ca,
        BRIDGE_ALERTMANAGER_URL=f"http://127.0.0.1:{am_port}",
        BRIDGE_SLACK_SIGNING_SECRET=SLACK_SECRET,
        BRIDGE_PAGERDUTY_WEBHOOK_SECRET=PD_SECRET,
        BRIDGE_API_TOKEN=API_TOKEN,
    )
    bridge = start_bridge(tmp_path, env)
    # A short repeat_interval: Alertmanager re-sends the firing alert every few seconds.
    config = alertmanager_config(tmp_path / "alertmanager.yml", [bridge.url], repeat_interval="3s")
    try:
        alertmanager = start_alertmanager(config, tmp_path, am_port, peers=peer_versions)
    except BaseException:
        bridge.stop()
        raise
    try:
        yield Running(bridge, alertmanager)
    finally:
        alertmanager.stop()
        bridge.stop()


def wait(running: Running, probe: Any, what: str) -> Any:
    return wait_until(probe, timeout=DELIVERY_TIMEOUT, what=what, procs=running.procs)


def post_signed(running: Running, path: str, signed: SignedRequest) -> None:
    url = f"{running.bridge.url}{path}"
    answer = requests.post(url, data=signed.body, headers=signed.headers, timeout=10)
    assert answer.status_code == 200, answer.text


def click(
    running: Running, slack: FakeSlack, ts: str, action_id: str, option: str | None = None
) -> None:
    payload = slack.click_payload(ts, action_id, option=option, **USER)
    post_signed(running, "/slack/interactions", slack_request(SLACK_SECRET, payload))


def pd_event(running: Running, event: dict[str, Any]) -> None:
    post_signed(running, "/pagerduty/webhook", pagerduty_request((PD_SECRET,), event))


def blocks_of(slack: FakeSlack, ts: str) -> str:
    message = slack.message(ts)
    return json.dumps(message.blocks if message else None, ensure_ascii=False)


def am_silences(running: Running) -> list[dict[str, Any]]:
    url = f"{running.alertmanager.url}/api/v2/silences"
    return [s for s in requests.get(url, timeout=10).json() if s["status"]["state"] == "active"]


def bridge_alert(running: Running) -> dict[str, Any] | None:
    alerts = requests.get(f"{running.bridge.url}/alerts", timeout=10).json()["alerts"]
    return next((a for a in alerts if a["alertname"] == ALERTNAME), None)


def test_on_call_silences_and_acknowledges_from_slack_and_pagerduty_changes_show_in_slack(
    running: Running, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    slack, pagerduty = slack_replica, pagerduty_replica
    starts = datetime.now(UTC) - timedelta(seconds=30)
    post_to_alertmanagers([running.alertmanager.url], [TestAlert(ALERTNAME, NODE, starts)])

    # Alert fires → one page, and a Slack message with buttons.
    message: SlackMessage = wait(running, lambda: next(iter(slack.top_level()), None), "a post")
    (trigger,) = wait(running, pagerduty.triggers, "the page")
    key = trigger["dedup_key"]
    assert '"action_id": "ack"' in blocks_of(slack, message.ts)

    # Signed "Silence 1 h" → a window in /silences and an active Alertmanager silence by
    # the Slack user → the message says who silenced it, until when.
    click(running, slack, message.ts, "silence", ONE_HOUR)
    silences = wait(running, lambda: am_silences(running), "the silence in Alertmanager")
    (silence,) = silences
    assert silence["createdBy"] == CREATED_BY
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == {
        ("alertname", ALERTNAME),
        ("node", NODE),
    }
    listed = requests.get(f"{running.bridge.url}/silences", timeout=10).json()["silences"]
    (window,) = listed
    assert window["createdBy"] == CREATED_BY and window["state"] == "active"
    wait(running, lambda: "Silenced by jane" in blocks_of(slack, message.ts), "the update")

    # Signed "Acknowledge" → PagerDuty receives `acknowledge` with the page's dedup_key.
    click(running, slack, message.ts, "ack")
    (ack,) = wait(running, pagerduty.acknowledges, "the acknowledge")
    assert ack["dedup_key"] == key
    wait(running, lambda: "Acknowledged by jane" in blocks_of(slack, message.ts), "the update")

    # A signed v3 incident.acknowledged → the message and its thread show the responder.
    pd_event(
        running,
        pagerduty_incident_event(
            "incident.acknowledged", key, status="acknowledged", agent="Ada Lovelace"
        ),
    )
    wait(
        running,
        lambda: "PagerDuty: acknowledged · Ada Lovelace" in blocks_of(slack, message.ts),
        "the responder in the message",
    )
    wait(
        running,
        lambda: any("by Ada Lovelace" in (r.text or "") for r in slack.replies(message.ts)),
        "the responder in the thread",
    )

    # incident.resolved while Prometheus still fires → shown as such.
    pd_event(running, pagerduty_incident_event("incident.resolved", key, status="resolved"))
    wait(
        running,
        lambda: "Resolved in PagerDuty, still firing" in blocks_of(slack, message.ts),
        "resolved in PagerDuty, still firing",
    )
    # End the silence: Alertmanager re-sends the still-firing alert (repeat_interval), the
    # bridge receives it again, and pages nobody for it.
    expire = requests.delete(
        f"{running.bridge.url}/silences/{window['id']}",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    )
    assert expire.status_code == 200, expire.text
    wait(running, lambda: not am_silences(running), "the silence expired in Alertmanager")
    received = (bridge_alert(running) or {}).get("received", 0)
    wait(
        running,
        lambda: (bridge_alert(running) or {}).get("received", 0) >= received + 2,
        "Alertmanager to re-send the still-firing alert twice",
    )
    assert len(pagerduty.triggers()) == 1
    assert len(slack.top_level()) == 1
    shown = bridge_alert(running)
    assert shown is not None and shown["status"] == "firing"
    assert shown["response"]["acked_by"] == CREATED_BY
    assert shown["response"]["pd_status"] == "resolved"


# -- storms (issue 26) ---------------------------------------------------------------------

STORM_NODES = 16
EVERYWHERE_1H = "This alert name everywhere, 1 h"


def storm_message(slack: FakeSlack) -> SlackMessage | None:
    return next((m for m in slack.top_level() if "storm" in (m.text or "")), None)


def storm_pages(pagerduty: FakePagerDuty) -> list[dict[str, Any]]:
    return [t for t in pagerduty.triggers() if "/storm/" in str(t["dedup_key"])]


def thread_texts(slack: FakeSlack, ts: str) -> list[str]:
    return [r.text or "" for r in slack.replies(ts)]


def test_on_call_acknowledges_and_silences_a_storm_from_slack_and_sees_pagerduty_on_it(
    running: Running, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    slack, pagerduty = slack_replica, pagerduty_replica
    starts = datetime.now(UTC) - timedelta(seconds=30)
    storm = [TestAlert(ALERTNAME, f"dgx-spark-{i:02}", starts) for i in range(STORM_NODES)]
    post_to_alertmanagers([running.alertmanager.url], storm)

    # A storm opens (default settings: the 11th change of a name in 10 minutes folds): one
    # storm incident, one message, with Acknowledge and Silence.
    message: SlackMessage = wait(running, lambda: storm_message(slack), "the storm message")
    (page,) = wait(running, lambda: storm_pages(pagerduty), "the storm's page")
    key = page["dedup_key"]
    shown = blocks_of(slack, message.ts)
    assert '"action_id": "ack"' in shown and '"action_id": "silence"' in shown
    # The first 10 alerts paged on their own before the name was storming.
    wait(running, lambda: len(pagerduty.triggers()) >= 11, "every page")
    pages = len(pagerduty.triggers())

    # A signed Acknowledge → one PagerDuty `acknowledge` with the storm's key; the message
    # says who.
    click(running, slack, message.ts, "ack")
    (ack,) = wait(running, pagerduty.acknowledges, "the storm's acknowledge")
    assert ack["dedup_key"] == key
    wait(running, lambda: "Acknowledged by jane" in blocks_of(slack, message.ts), "the update")
    assert '"action_id": "ack"' not in blocks_of(slack, message.ts)

    # Signed v3 events of the storm's incident show in its message and thread.
    now = datetime.now(UTC)
    for event in (
        pagerduty_incident_event(
            "incident.acknowledged",
            key,
            status="acknowledged",
            incident_id="PSTORM1",
            agent="Ada Lovelace",
            occurred_at=now,
        ),
        pagerduty_note_event("Chiller tripped", incident_id="PSTORM1", occurred_at=now),
    ):
        pd_event(running, event)
    wait(
        running,
        lambda: "PagerDuty: acknowledged · Ada Lovelace" in blocks_of(slack, message.ts),
        "the responder in the storm message",
    )
    wait(
        running,
        lambda: any("Chiller tripped" in t for t in thread_texts(slack, message.ts)),
        "the note in the storm's thread",
    )
    assert any("by Ada Lovelace" in t for t in thread_texts(slack, message.ts))

    # Resolved in PagerDuty while the storm fires: shown, and nobody is paged again while
    # Alertmanager keeps re-sending the storm's alerts.
    pd_event(
        running,
        pagerduty_incident_event(
            "incident.resolved",
            key,
            status="resolved",
            incident_id="PSTORM1",
            occurred_at=now + timedelta(seconds=1),
        ),
    )
    wait(
        running,
        lambda: "Resolved in PagerDuty, still firing" in blocks_of(slack, message.ts),
        "resolved in PagerDuty, still firing",
    )
    received = (bridge_alert(running) or {}).get("received", 0)
    wait(
        running,
        lambda: (bridge_alert(running) or {}).get("received", 0) >= received + 2,
        "Alertmanager to re-send the storm's alerts twice",
    )
    assert len(pagerduty.triggers()) == pages
    assert len(pagerduty.acknowledges()) == 1

    # A signed "Silence 1 h" → one window, synced to Alertmanager, named after the Slack user.
    click(running, slack, message.ts, "silence", EVERYWHERE_1H)
    (silence,) = wait(running, lambda: am_silences(running), "the storm's silence")
    assert silence["createdBy"] == CREATED_BY
    assert [(m["name"], m["value"]) for m in silence["matchers"]] == [("alertname", ALERTNAME)]
    listed = requests.get(f"{running.bridge.url}/silences", timeout=10).json()["silences"]
    assert len(listed) == 1 and listed[0]["createdBy"] == CREATED_BY
    wait(running, lambda: "Silenced by jane" in blocks_of(slack, message.ts), "the update")


# -- one episode, one incident (issue 22 finding 2) -----------------------------------------


def test_a_late_event_of_the_first_incident_does_not_take_over_the_next_episode(
    running: Running, pagerduty_replica: FakePagerDuty, slack_replica: FakeSlack
) -> None:
    slack, pagerduty = slack_replica, pagerduty_replica
    first_start = datetime.now(UTC) - timedelta(minutes=2)
    first = TestAlert(ALERTNAME, NODE, first_start)

    # Fire: the first incident opens, and PagerDuty ties it to this episode.
    post_to_alertmanagers([running.alertmanager.url], [first])
    (page,) = wait(running, pagerduty.triggers, "the first page")
    key = page["dedup_key"]
    first_message = wait(running, lambda: next(iter(slack.top_level()), None), "a post")
    pd_event(
        running,
        pagerduty_incident_event(
            "incident.triggered",
            key,
            status="triggered",
            incident_id="PFIRST1",
            occurred_at=first_start + timedelta(seconds=10),
        ),
    )
    # Resolve, then fire again: a new episode, a new incident on the same key.
    post_to_alertmanagers([running.alertmanager.url], [first], resolved=True)
    wait(running, pagerduty.resolves, "the resolve")
    second_start = datetime.now(UTC)
    post_to_alertmanagers([running.alertmanager.url], [TestAlert(ALERTNAME, NODE, second_start)])
    wait(running, lambda: len(pagerduty.triggers()) == 2, "the second page")
    second_message = wait(
        running,
        lambda: next((m for m in slack.top_level() if m.ts != first_message.ts), None),
        "the second episode's message",
    )

    # The first incident's acknowledgement (made during the first episode) and a note on
    # it arrive now: recorded, not shown on the second episode.
    pd_event(
        running,
        pagerduty_incident_event(
            "incident.acknowledged",
            key,
            status="acknowledged",
            incident_id="PFIRST1",
            agent="Old Responder",
            occurred_at=first_start + timedelta(seconds=20),
        ),
    )
    pd_event(running, pagerduty_note_event("stale note", incident_id="PFIRST1"))

    # The second incident's events show.
    for event in (
        pagerduty_incident_event(
            "incident.triggered",
            key,
            status="triggered",
            incident_id="PSECOND2",
            agent=None,
            assignees=("New Responder",),
            occurred_at=second_start + timedelta(seconds=2),
        ),
        pagerduty_incident_event(
            "incident.acknowledged",
            key,
            status="acknowledged",
            incident_id="PSECOND2",
            agent="New Responder",
            occurred_at=second_start + timedelta(seconds=3),
        ),
    ):
        pd_event(running, event)
    wait(
        running,
        lambda: "PagerDuty: acknowledged · New Responder" in blocks_of(slack, second_message.ts),
        "the second incident's responder",
    )
    shown = bridge_alert(running)
    assert shown is not None and shown["response"]["acked_by"] == "New Responder"
    assert 0 < shown["response"]["seconds_to_acknowledge"] < 60
    assert shown["response"]["pd_incident_url"].endswith("/incidents/PSECOND2")
    lines = [r.text or "" for r in slack.replies(second_message.ts)]
    assert not any("Old Responder" in line or "stale note" in line for line in lines)
    assert "Old Responder" not in blocks_of(slack, second_message.ts)
