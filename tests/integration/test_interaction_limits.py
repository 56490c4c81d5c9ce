"""What a Slack act may do when someone acted first or a limit applies (issue 22 item 7),
through signed Slack and PagerDuty requests, on both databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import Engine

from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import pagerduty_incident_event, slack_request
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import deliver_until_settled, make_app, post_alerts
from tests.support.interactions import (
    INTERACTIONS,
    SLACK_SECRET,
    click,
    pd_event,
    send,
    state_counts,
    windows,
)
from tests.support.payloads import alert, payload


def test_a_slack_acknowledge_after_a_pagerduty_one_sends_nothing_and_counts_once(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    post_alerts(app, payload(alert()))
    deliver_until_settled(app)
    (message,) = slack.top_level()
    (trigger,) = pagerduty.triggers()
    # On-call clicks Acknowledge on the message as it was before PagerDuty's event updated it.
    early_click = slack.click_payload(message.ts, "ack", user_id="U0JANE")
    acked = pagerduty_incident_event(
        "incident.acknowledged", trigger["dedup_key"], status="acknowledged", agent="Ada"
    )
    assert pd_event(app, acked).status_code == 200
    deliver_until_settled(app)
    before = state_counts(engine)["deliveries"]
    assert send(app, INTERACTIONS, slack_request(SLACK_SECRET, early_click)).status_code == 200
    deliver_until_settled(app)
    assert pagerduty.acknowledges() == []
    assert state_counts(engine)["deliveries"] == before
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert "acknowledged already by Ada" in reply["text"]
    (shown,) = app.test_client().get("/alerts").get_json()["alerts"]
    assert (shown["response"]["acked_by"], shown["response"]["ack_source"]) == ("Ada", "pagerduty")
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'alert_bridge_time_to_acknowledge_seconds_count{source="pagerduty"} 1.0' in metrics
    assert 'alert_bridge_time_to_acknowledge_seconds_count{source="slack"}' not in metrics


def test_the_whole_node_silence_is_capped_by_the_longest_window_allowed(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(replace(interactive, max_window_seconds=3600), engine)
    post_alerts(app, payload(alert()))
    deliver_until_settled(app)
    (message,) = slack.top_level()
    answer = click(app, slack, message.ts, "silence", "The whole node, 2 h")
    assert answer.status_code == 200
    (window,) = windows(engine)
    assert window["ends_at"] - window["starts_at"] == timedelta(hours=1)
