"""The human loop reaches storms (issue 26): a storm's Slack message carries Acknowledge and
a Silence menu that fits a storm, and PagerDuty's events for the storm's incident show on
it. Through the signed endpoints, the delivery worker and the replicas, on both databases.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Engine

from bridge.app import create_app
from bridge.digest.facts import read_facts
from bridge.settings import Settings
from bridge.silences.matching import Matcher, all_match
from bridge.store import Store
from bridge.storms import PAGERDUTY_REFRESH
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import pagerduty_incident_event, pagerduty_note_event, slack_request
from tests.fakes.slack import FakeSlack, SlackMessage
from tests.integration.test_storm_folding import deliver_due, send, storm_triggers
from tests.support.bridge_app import deliver_until_settled
from tests.support.clock import Clock
from tests.support.interactions import (
    INTERACTIONS,
    SLACK_SECRET,
    click,
    pd_event,
    windows,
)
from tests.support.interactions import send as send_signed
from tests.support.payloads import alert

NAME = "GPUTemperatureCritical"
NODES = 16
EVERYWHERE_1H = "This alert name everywhere, 1 h"
NODES_ONLY_4H = "This alert name on the storm's nodes only, 4 h"


def node_alerts(first: int, count: int, name: str = NAME) -> list[dict[str, Any]]:
    return [
        alert(name, node=f"dgx-spark-{i:02}", gpu="0", fingerprint=f"{name[:40]}-{i:02}")
        for i in range(first, first + count)
    ]


def storm_of(
    settings: Settings, engine: Engine, slack: FakeSlack, name: str = NAME
) -> tuple[Flask, Clock, Any]:
    """16 alerts of one name on 16 nodes: 10 page on their own, 6 fold into a storm."""
    clock = Clock(datetime.now(UTC))
    app = create_app(settings, store=Store(engine), clock=clock)
    app.testing = True
    send(app, node_alerts(0, NODES, name))
    deliver_due(app)
    return app, clock, storm_message(slack)


def storm_message(slack: FakeSlack) -> SlackMessage:
    (message,) = [m for m in slack.top_level() if "storm" in (m.text or "")]
    return message


def elements(slack: FakeSlack, ts: str) -> list[dict[str, Any]]:
    message = slack.message(ts)
    assert message is not None
    return [e for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]


def blocks(slack: FakeSlack, ts: str) -> str:
    message = slack.message(ts)
    return json.dumps(message.blocks if message else None, ensure_ascii=False)


def thread(slack: FakeSlack, ts: str) -> list[str]:
    return [r.text or "" for r in slack.replies(ts)]


def folded(app: Flask) -> list[dict[str, Any]]:
    alerts = app.test_client().get("/alerts?limit=500").get_json()["alerts"]
    return [a for a in alerts if a["storm"] is not None]


def storm_key(pagerduty: FakePagerDuty) -> str:
    (trigger,) = storm_triggers(pagerduty)
    return str(trigger["dedup_key"])


def test_a_storm_message_carries_acknowledge_and_a_silence_menu_that_fits_a_storm(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app, _, message = storm_of(interactive, engine, slack)
    ack, menu = elements(slack, message.ts)
    assert (ack["action_id"], ack["text"]["text"]) == ("ack", "Acknowledge")
    assert [o["text"]["text"] for o in menu["options"]] == [
        "This alert name everywhere, 1 h",
        "This alert name everywhere, 4 h",
        "This alert name on the storm's nodes only, 1 h",
        "This alert name on the storm's nodes only, 4 h",
    ]
    storm_id = folded(app)[0]["storm"]["id"]
    for value in [ack["value"]] + [o["value"] for o in menu["options"]]:
        choice, ref = value.split(":")
        assert choice.startswith("storm-") and ref.split(".")[0] == str(storm_id)


def test_acknowledging_a_storm_sends_one_acknowledge_with_its_key_and_counts_for_its_alerts(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app, clock, message = storm_of(interactive, engine, slack)
    payload = slack.click_payload(message.ts, "ack", user_id="U0JANE", user_name="jane")
    for retry in (None, 1, 2):  # Slack's retries of one click ...
        signed = slack_request(SLACK_SECRET, payload, retry_num=retry)
        assert send_signed(app, INTERACTIONS, signed).status_code == 200
    # ... and a double click (a new action_ts)
    assert click(app, slack, message.ts, "ack", user_id="U0JANE").status_code == 200
    deliver_due(app)
    (ack,) = pagerduty.acknowledges()
    assert ack["dedup_key"] == storm_key(pagerduty)
    assert "Acknowledged by jane (Slack U0JANE)" in blocks(slack, message.ts)
    assert '"action_id": "ack"' not in blocks(slack, message.ts)
    (line,) = thread(slack, message.ts)
    assert line == f":eyes: <@U0JANE> acknowledged the {NAME} storm from Slack."
    members = folded(app)
    assert len(members) == NODES - 10
    for member in members:
        response = member["response"]
        assert response["acked_by"] == "jane (Slack U0JANE)"
        assert response["ack_source"] == "slack"
        assert response["seconds_to_acknowledge"] >= 0
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'alert_bridge_time_to_acknowledge_seconds_count{source="slack"} 1.0' in metrics
    assert 'alert_bridge_firing_alerts{acknowledged="true"} 6.0' in metrics
    with engine.connect() as conn:  # the summary counts them as acknowledged too
        end = clock() + timedelta(minutes=1)
        facts = read_facts(conn, clock() - timedelta(hours=1), end, end)
    (stats,) = facts.alertnames
    assert stats.acknowledged == NODES - 10


def test_an_acknowledgement_reaches_pagerduty_at_once_even_with_a_refresh_queued(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app, clock, message = storm_of(interactive, engine, slack)
    send(app, node_alerts(NODES, 2))  # the storm grows: a refresh waits for its slot
    deliver_due(app)
    assert len(storm_triggers(pagerduty)) == 1  # the open; the refresh is paced
    # PagerDuty escalates on its own clock: the click must not wait out the pacing, and
    # the acknowledgement must not overtake the refresh queued before it either.
    assert click(app, slack, message.ts, "ack", user_id="U0JANE").status_code == 200
    deliver_due(app)
    (ack,) = pagerduty.acknowledges()
    assert ack["dedup_key"] == storm_key_of(pagerduty)
    storm_events = [
        e["event_action"] for e in pagerduty.events if e["dedup_key"] == ack["dedup_key"]
    ]
    assert storm_events == ["trigger", "trigger", "acknowledge"]
    # The Slack message shows it at once as well.
    assert "Acknowledged by" in blocks(slack, message.ts)
    # The pacing goes on from there: the next refresh waits its slot again.
    send(app, node_alerts(NODES + 2, 1))
    deliver_due(app)
    assert len(storm_triggers(pagerduty)) == 2
    clock.advance(seconds=PAGERDUTY_REFRESH.total_seconds() + 1)
    deliver_due(app)
    assert len(storm_triggers(pagerduty)) == 3


def storm_key_of(pagerduty: FakePagerDuty) -> str:
    return str(storm_triggers(pagerduty)[0]["dedup_key"])


def test_alerts_joining_an_acknowledged_storm_count_as_acknowledged_from_when_they_joined(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app, clock, message = storm_of(interactive, engine, slack)
    assert click(app, slack, message.ts, "ack", user_id="U0JANE").status_code == 200
    deliver_due(app)
    acked_at = clock()
    clock.advance(minutes=3)
    joined_at = clock()
    send(app, node_alerts(NODES, 3))  # three more nodes heat up after the acknowledgement
    deliver_due(app)
    members = {a["fingerprint"]: a for a in folded(app)}
    assert len(members) == NODES - 10 + 3
    joiners = [members[a["fingerprint"]] for a in node_alerts(NODES, 3)]
    for joiner in joiners:
        response = joiner["response"]
        assert response is not None, joiner["fingerprint"]
        assert response["acked_by"] == "jane.oncall (Slack U0JANE)"
        assert response["ack_source"] == "slack"
        assert datetime.fromisoformat(response["acked_at"]) == joined_at
        assert response["seconds_to_acknowledge"] >= 0
    earlier = [m for fp, m in members.items() if m not in joiners]
    assert {datetime.fromisoformat(m["response"]["acked_at"]) for m in earlier} == {acked_at}
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert f'alert_bridge_firing_alerts{{acknowledged="true"}} {NODES - 10 + 3}.0' in metrics
    # One acknowledgement in PagerDuty: the storm's incident, already acknowledged.
    assert len(pagerduty.acknowledges()) == 1


def test_silencing_a_storm_creates_one_window_by_the_slack_user_for_what_was_chosen(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app, _, message = storm_of(interactive, engine, slack)
    for _ in range(2):  # a double click acts once
        answer = click(app, slack, message.ts, "silence", EVERYWHERE_1H, user_id="U0JANE")
        assert answer.status_code == 200
    assert click(app, slack, message.ts, "silence", NODES_ONLY_4H).status_code == 200
    everywhere, nodes_only = sorted(windows(engine), key=lambda w: len(w["matchers"]))
    assert everywhere["created_by"] == "jane.oncall (Slack U0JANE)"
    assert everywhere["matchers"] == [Matcher("alertname", NAME).as_api()]
    assert everywhere["ends_at"] - everywhere["starts_at"] == timedelta(hours=1)
    assert nodes_only["ends_at"] - nodes_only["starts_at"] == timedelta(hours=4)
    matchers = [Matcher.from_api(m) for m in nodes_only["matchers"]]
    storm_nodes = {a["node"] for a in folded(app)}
    for i in range(NODES):
        labels = {"alertname": NAME, "node": f"dgx-spark-{i:02}"}
        assert all_match(matchers, labels) == (labels["node"] in storm_nodes)
    assert not all_match(matchers, {"alertname": NAME, "node": "dgx-spark-1."})
    listed = app.test_client().get("/silences").get_json()["silences"]
    assert len(listed) == 2
    deliver_due(app)
    assert "Silenced by" in blocks(slack, message.ts)
    assert len(thread(slack, message.ts)) == 2


def test_a_storm_silence_is_capped_by_the_longest_window_allowed(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    settings = replace(interactive, max_window_seconds=30 * 60)
    app, _, message = storm_of(settings, engine, slack)
    assert click(app, slack, message.ts, "silence", NODES_ONLY_4H).status_code == 200
    (window,) = windows(engine)
    assert window["ends_at"] - window["starts_at"] == timedelta(minutes=30)


def test_pagerduty_events_of_the_storm_incident_show_in_its_message_and_thread(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app, clock, message = storm_of(interactive, engine, slack)
    key = storm_key(pagerduty)
    now = clock()
    triggered = pagerduty_incident_event(
        "incident.triggered",
        key,
        status="triggered",
        incident_id="PSTORM1",
        agent=None,
        assignees=("Ada Lovelace",),
        occurred_at=now + timedelta(seconds=1),
    )
    acked = pagerduty_incident_event(
        "incident.acknowledged",
        key,
        status="acknowledged",
        incident_id="PSTORM1",
        agent="Ada Lovelace",
        occurred_at=now + timedelta(seconds=30),
    )
    note = pagerduty_note_event(
        "Chiller <3> tripped", incident_id="PSTORM1", occurred_at=now + timedelta(seconds=40)
    )
    # Delivered after the acknowledgement, though it happened before it: not shown.
    late = pagerduty_incident_event(
        "incident.unacknowledged",
        key,
        status="triggered",
        incident_id="PSTORM1",
        occurred_at=now + timedelta(seconds=10),
    )
    early_click = slack.click_payload(message.ts, "ack")  # the button as it was shown
    for event in (triggered, acked, acked, late, note, note):  # PagerDuty redelivers
        assert pd_event(app, event).status_code == 200
    # Clicked before the message showed PagerDuty's acknowledgement: nothing more is sent.
    assert (
        send_signed(app, INTERACTIONS, slack_request(SLACK_SECRET, early_click)).status_code == 200
    )
    deliver_due(app)
    shown = blocks(slack, message.ts)
    assert ":pager: PagerDuty: acknowledged · Ada Lovelace" in shown
    assert "fake-subdomain.pagerduty.com/incidents/PSTORM1|incident" in shown
    assert "Acknowledged in PagerDuty by Ada Lovelace" in shown
    assert '"action_id": "ack"' not in shown
    assert thread(slack, message.ts) == [
        ":pager: Paged in PagerDuty: assigned to Ada Lovelace.",
        ":eyes: Acknowledged in PagerDuty by Ada Lovelace.",
        ":memo: Note from Jane Oncall in PagerDuty: Chiller &lt;3&gt; tripped",
    ]
    for member in folded(app):
        assert member["response"]["acked_by"] == "Ada Lovelace"
        assert member["response"]["ack_source"] == "pagerduty"
    assert pagerduty.acknowledges() == []  # PagerDuty's own act is not sent back to it
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert "acknowledged already by Ada Lovelace" in reply["text"]


def test_a_resolve_in_pagerduty_while_the_storm_fires_is_shown_and_pages_nobody(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app, clock, message = storm_of(interactive, engine, slack)
    key = storm_key(pagerduty)
    resolved = pagerduty_incident_event(
        "incident.resolved",
        key,
        status="resolved",
        incident_id="PSTORM1",
        occurred_at=clock() + timedelta(seconds=5),
    )
    assert pd_event(app, resolved).status_code == 200
    deliver_due(app)
    assert "Resolved in PagerDuty, still firing" in blocks(slack, message.ts)
    (line,) = thread(slack, message.ts)
    assert "resolved in PagerDuty, still firing (no new page)" in line
    # The storm grows: its refresh comes due, and would re-open the incident as a trigger.
    send(app, node_alerts(NODES, 4))
    clock.advance(seconds=PAGERDUTY_REFRESH.total_seconds() + 1)
    deliver_due(app)
    assert len(storm_triggers(pagerduty)) == 1
    refreshes = [
        d
        for a in app.test_client().get("/alerts?limit=500").get_json()["alerts"]
        for d in a["deliveries"]
        if d["action"] == "storm_update" and d["channel"] == "pagerduty"
    ]
    assert refreshes and all(d["status"] == "delivered" for d in refreshes)
    assert "Resolved in PagerDuty, still firing" in blocks(slack, message.ts)


def test_an_event_of_another_storm_or_older_than_this_one_is_recorded_and_not_shown(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app, clock, message = storm_of(interactive, engine, slack)
    key = storm_key(pagerduty)
    before = clock() - timedelta(minutes=5)
    old = pagerduty_incident_event(
        "incident.acknowledged", key, status="acknowledged", occurred_at=before
    )
    other = pagerduty_incident_event(
        "incident.acknowledged",
        f"dgx-spark-bridge/storm/{NAME}/{before.isoformat()}",
        status="acknowledged",
    )
    for event in (old, other):
        assert pd_event(app, event).status_code == 200
    deliver_until_settled(app)
    assert thread(slack, message.ts) == []
    assert all(a["response"] is None for a in folded(app))


def test_folded_alerts_of_an_acknowledged_storm_get_no_reminders(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    from bridge.jobs import send_reminders
    from tests.support.bridge_app import ctx
    from tests.support.payloads import resolved

    app, clock, message = storm_of(interactive, engine, slack)
    # dgx-spark-00 paged on its own before the storm; it resolves and fires again while
    # the storm is open, so it folds into the storm, keeping its own Slack thread.
    (first,) = node_alerts(0, 1)
    send(app, [resolved(first, ends_at=clock().isoformat())])
    refired = {**first, "startsAt": (clock() + timedelta(minutes=1)).isoformat()}
    send(app, [refired])
    deliver_due(app)
    (member,) = [a for a in folded(app) if a["fingerprint"] == first["fingerprint"]]
    assert click(app, slack, message.ts, "ack").status_code == 200
    clock.advance(hours=5)
    send_reminders(ctx(app))
    alerts = app.test_client().get("/alerts?limit=500").get_json()["alerts"]
    (shown,) = [a for a in alerts if a["fingerprint"] == member["fingerprint"]]
    assert shown["response"]["acked_by"] == "jane.oncall (Slack U0ONCALL1)"
    assert [d for d in shown["deliveries"] if d["action"] == "reminder"] == []
    # Alerts that paged on their own and nobody acknowledged are still reminded.
    reminded = [a for a in alerts if any(d["action"] == "reminder" for d in a["deliveries"])]
    assert len(reminded) == 9


def test_a_storm_of_a_very_long_alert_name_is_found_by_its_hashed_key(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    # 200 characters: hashed only because the start has microseconds (23 + 200 + 33 > 255).
    long_name = "GPUTemperatureCritical" + "X" * 178
    app, clock, message = storm_of(interactive, engine, slack, long_name)
    key = storm_key(pagerduty)
    assert long_name not in key and len(key) <= 255  # hashed: PagerDuty's 255 characters
    acked = pagerduty_incident_event(
        "incident.acknowledged",
        key,
        status="acknowledged",
        agent="Ada",
        occurred_at=clock() + timedelta(seconds=1),
    )
    assert pd_event(app, acked).status_code == 200
    deliver_due(app)
    assert "PagerDuty: acknowledged · Ada" in blocks(slack, message.ts)


def test_a_click_on_a_storm_that_is_over_says_so_and_changes_nothing(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    from bridge.jobs import end_quiet_storms
    from bridge.storms import DEFAULT_LIMITS
    from tests.support.bridge_app import ctx
    from tests.support.payloads import resolved

    app, clock, message = storm_of(interactive, engine, slack)
    stale = slack.click_payload(message.ts, "silence", option=EVERYWHERE_1H)
    ends = clock().isoformat()
    send(app, [resolved(a, ends_at=ends) for a in node_alerts(0, NODES)])
    clock.advance(seconds=DEFAULT_LIMITS.window.total_seconds() + 1)
    assert end_quiet_storms(ctx(app)) == 1
    deliver_due(app)
    assert elements(slack, message.ts) == []  # the message lost its buttons
    signed = slack_request(SLACK_SECRET, stale, timestamp=int(clock().timestamp()))
    assert send_signed(app, INTERACTIONS, signed).status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert reply["text"] == f"The {NAME} storm is over: nothing was done."
    assert windows(engine) == []
