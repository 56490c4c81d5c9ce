"""Slack buttons and PagerDuty webhooks v3 through the HTTP endpoints, on both databases.

The bridge posts to the Slack and PagerDuty replicas; clicks are built from the message
the Slack replica holds (as Slack would) and signed as Slack signs them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from flask import Flask
from sqlalchemy import Engine

from bridge.notify.pagerduty_event import dedup_key
from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import (
    SignedRequest,
    pagerduty_incident_event,
    pagerduty_note_event,
    pagerduty_request,
    pagerduty_signature,
    slack_body,
    slack_request,
)
from tests.fakes.slack import TEAM_ID, FakeSlack, SlackMessage
from tests.support.bridge_app import deliver_until_settled, make_app, post_alerts, unreachable_like
from tests.support.interactions import (
    INTERACTIONS,
    PAGERDUTY_SECRET,
    PD_WEBHOOK,
    SLACK_SECRET,
    click,
    pd_event,
    send,
    state_counts,
    windows,
)
from tests.support.payloads import alert, payload, resolved

# The Silence menu's options as the message shows them.
ONE_HOUR = "This alert on this node, 1 h"
FOUR_HOURS = "This alert on this node, 4 h"


def firing_message(app: Flask, slack: FakeSlack, firing: dict[str, Any]) -> SlackMessage:
    post_alerts(app, payload(firing))
    deliver_until_settled(app)
    (message,) = slack.top_level()
    return message


def elements(message: SlackMessage) -> list[dict[str, Any]]:
    return [
        e for b in message.blocks or [] if b["type"] == "actions" for e in b.get("elements", [])
    ]


def current_blocks(slack: FakeSlack, ts: str) -> str:
    message = slack.message(ts)
    assert message is not None
    return json.dumps(message.blocks, ensure_ascii=False)


def thread(slack: FakeSlack, ts: str) -> list[str]:
    return [r.text or "" for r in slack.replies(ts)]


# -- buttons -----------------------------------------------------------------------------


def test_a_page_carries_acknowledge_and_silence_with_only_an_opaque_reference(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert())
    ack, silence = elements(message)
    assert ack["action_id"] == "ack" and ack["text"]["text"] == "Acknowledge"
    values = [ack["value"]] + [o["value"] for o in silence["options"]]
    assert [v.split(":")[0] for v in values] == [
        "ack",
        "silence-1h",
        "silence-4h",
        "silence-monday",
        "silence-node-2h",
    ]
    for value in values:  # `<choice>:<alert id>.<episode>`: no label value in sight
        assert "dgx-spark" not in value and "GPU" not in value


def test_a_warning_that_did_not_page_offers_silence_but_not_acknowledge(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert("GPUTemperatureWarning", severity="warning"))
    (silence,) = elements(message)
    assert silence["type"] == "static_select"


def test_without_a_signing_secret_messages_carry_links_only_and_the_endpoint_is_404(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(live_settings, engine)
    message = firing_message(app, slack, alert())
    assert elements(message) == []
    assert "Runbook" in json.dumps(message.blocks) or "Grafana" in json.dumps(message.blocks)
    signed = slack_request("any-secret", {"type": "block_actions"})
    assert send(app, INTERACTIONS, signed).status_code == 404
    event = pagerduty_incident_event("incident.acknowledged", "k", status="acknowledged")
    assert pd_event(app, event).status_code == 404


# -- Silence and Acknowledge -------------------------------------------------------------


def test_silence_one_hour_creates_a_window_by_the_slack_user_and_updates_the_message(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert())
    answer = click(app, slack, message.ts, "silence", ONE_HOUR, user_id="U0JANE", user_name="jane")
    assert answer.status_code == 200
    (window,) = windows(engine)
    assert window["created_by"] == "jane (Slack U0JANE)"
    assert {(m["name"], m["value"]) for m in window["matchers"]} == {
        ("alertname", "GPUTemperatureCritical"),
        ("node", "dgx-spark-01"),
    }
    assert round((window["ends_at"] - window["starts_at"]).total_seconds()) == 3600
    listed = app.test_client().get("/silences").get_json()["silences"]
    assert [w["id"] for w in listed] == [window["id"]] and listed[0]["createdBy"] == window[
        "created_by"
    ]
    deliver_until_settled(app)
    assert "Silenced by jane (Slack U0JANE) until" in current_blocks(slack, message.ts)
    (line,) = thread(slack, message.ts)
    assert line.startswith(":no_bell: <@U0JANE> silenced GPUTemperatureCritical on dgx-spark-01")


def test_acknowledge_sends_one_pagerduty_acknowledge_with_the_alerts_dedup_key(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    firing = alert()
    message = firing_message(app, slack, firing)
    assert click(app, slack, message.ts, "ack", user_id="U0JANE").status_code == 200
    deliver_until_settled(app)
    (ack,) = pagerduty.acknowledges()
    assert ack["dedup_key"] == dedup_key(firing["fingerprint"])
    incident = pagerduty.incident(ack["dedup_key"])
    assert incident is not None and incident.status == "acknowledged"
    blocks = current_blocks(slack, message.ts)
    assert "Acknowledged by jane.oncall (Slack U0JANE)" in blocks
    assert '"action_id": "ack"' not in blocks  # nothing left to acknowledge
    (line,) = thread(slack, message.ts)
    assert "<@U0JANE> acknowledged" in line
    (shown,) = app.test_client().get("/alerts").get_json()["alerts"]
    assert shown["response"]["acked_by"] == "jane.oncall (Slack U0JANE)"
    assert shown["response"]["ack_source"] == "slack"
    assert shown["response"]["seconds_to_acknowledge"] > 0
    metrics = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'alert_bridge_time_to_acknowledge_seconds_count{source="slack"} 1.0' in metrics
    assert 'alert_bridge_firing_alerts{acknowledged="true"} 1.0' in metrics
    assert 'alert_bridge_firing_alerts{acknowledged="false"} 0.0' in metrics
    labels = (
        f'alertname="GPUTemperatureCritical",fingerprint="{firing["fingerprint"]}",'
        'node="dgx-spark-01",source="slack"'
    )
    assert f"alert_bridge_alert_acknowledged_timestamp_seconds{{{labels}}}" in metrics
    assert f"alert_bridge_alert_time_to_acknowledge_seconds{{{labels}}}" in metrics
    # /metrics is scraped and kept by whoever runs Prometheus: it names no person.
    assert "jane" not in metrics and "U0JANE" not in metrics and "by=" not in metrics


def test_slack_retries_and_double_clicks_act_once(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert())
    for action_id, option in (("ack", None), ("silence", FOUR_HOURS)):
        payload_ = slack.click_payload(message.ts, action_id, option=option)
        first = slack_request(SLACK_SECRET, payload_)
        assert send(app, INTERACTIONS, first).status_code == 200
        # Slack's retry: the same body again, marked as a retry.
        retry = slack_request(SLACK_SECRET, payload_, retry_num=1)
        assert send(app, INTERACTIONS, retry).status_code == 200
        # A double click: a second click of the same choice (a new action_ts).
        assert click(app, slack, message.ts, action_id, option).status_code == 200
    deliver_until_settled(app)
    assert len(pagerduty.acknowledges()) == 1
    assert len(windows(engine)) == 1
    assert len(thread(slack, message.ts)) == 2  # one line per act


def test_a_user_outside_the_allowed_list_is_told_so_and_nothing_changes(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(replace(interactive, slack_allowed_users=("U0BOSS",)), engine)
    message = firing_message(app, slack, alert())
    before, calls = state_counts(engine), len(slack.calls)
    assert click(app, slack, message.ts, "ack", user_id="U0INTERN").status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert reply["response_type"] == "ephemeral" and "not allowed" in reply["text"]
    assert state_counts(engine) == before
    assert [c.api_method for c in slack.calls[calls:]] == ["response_url"]
    assert click(app, slack, message.ts, "ack", user_id="U0BOSS").status_code == 200
    assert state_counts(engine) != before


def test_a_guest_from_another_workspace_cannot_act_when_every_user_is_allowed(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    assert interactive.slack_allowed_users == ()  # "everyone in the workspace"
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert())
    before = state_counts(engine)
    guest = click(app, slack, message.ts, "ack", user_id="U0GUEST", team_id="T0OTHERORG")
    assert guest.status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert reply["response_type"] == "ephemeral" and "workspace" in reply["text"]
    assert state_counts(engine) == before
    assert click(app, slack, message.ts, "ack", user_id="U0GUEST").status_code == 200
    assert state_counts(engine) != before


def test_a_click_is_refused_while_slack_cannot_say_which_workspace_the_bridge_is_in(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    # The bridge asks at start and again at the click; both fail.
    slack.fail_next("auth.test", status=503, times=2)
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert())
    before = state_counts(engine)
    assert click(app, slack, message.ts, "ack").status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert "try again" in reply["text"]
    assert state_counts(engine) == before
    assert click(app, slack, message.ts, "ack").status_code == 200  # Slack answers again
    assert state_counts(engine) != before


def test_an_action_on_an_alert_resolved_meanwhile_says_so_instead_of_acting(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(interactive, engine)
    firing = alert()
    message = firing_message(app, slack, firing)
    payload_ = slack.click_payload(message.ts, "silence", option=ONE_HOUR)
    post_alerts(app, payload(resolved(firing)))
    deliver_until_settled(app)
    before = state_counts(engine)
    assert send(app, INTERACTIONS, slack_request(SLACK_SECRET, payload_)).status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert "resolved meanwhile" in reply["text"]
    assert state_counts(engine) == before and windows(engine) == []


def test_silencing_an_alert_whose_labels_make_no_valid_window_says_so_and_stores_nothing(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    """Slack's buttons go through the same window validation as `POST /silences`."""
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert(node="dgx-spark-01\x1b[2J"))
    before = state_counts(engine)
    answer = click(app, slack, message.ts, "silence", ONE_HOUR)
    assert answer.status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert "cannot be silenced" in reply["text"] and "U+001B" in reply["text"]
    assert windows(engine) == [] and state_counts(engine) == before
    # Nothing was recorded as done: the click can be retried once the labels are fixed.
    assert app.test_client().get("/windows").status_code == 200


# -- hostile requests ----------------------------------------------------------------------


def _hostile_requests(slack: FakeSlack, ts: str) -> list[tuple[str, str, Any, int]]:
    """(what, path, signed request, expected status) for requests that must change nothing."""
    good = slack.click_payload(ts, "silence", option=ONE_HOUR)
    body = slack_body(good)
    valid = slack_request(SLACK_SECRET, good)
    old_ts = int(valid.headers["X-Slack-Request-Timestamp"]) - 600
    ack_value = slack.click_payload(ts, "ack")["actions"][0]["value"]
    alert_ref = ack_value.split(":", 1)[1]

    def signed(payload_: Any = None, **kwargs: Any) -> Any:
        return slack_request(SLACK_SECRET, payload_, **kwargs)

    def with_action(**changes: Any) -> dict[str, Any]:
        return {**good, "actions": [{**good["actions"][0], **changes}]}

    def with_option(value: str) -> dict[str, Any]:
        """The menu choice with another value, as a forged payload would carry it."""
        return with_action(
            selected_option={"text": {"type": "plain_text", "text": "x"}, "value": value}
        )

    pd_key = "dgx-spark-bridge/fp-GPUTemperatureCritical-dgx-spark-01-0"
    pd_good = pagerduty_incident_event("incident.acknowledged", pd_key, status="acknowledged")
    pd_valid = pagerduty_request((PAGERDUTY_SECRET,), pd_good)
    S, P = INTERACTIONS, PD_WEBHOOK
    return [
        (
            "no signature headers",
            S,
            SignedRequest(body, {"Content-Type": valid.headers["Content-Type"]}),
            401,
        ),
        ("signed with another secret", S, slack_request("not-the-secret", good), 401),
        ("signature of another body", S, SignedRequest(body + b"&x=1", valid.headers), 401),
        ("timestamp ten minutes old", S, signed(good, timestamp=old_ts), 401),
        ("timestamp ten minutes ahead", S, signed(good, timestamp=old_ts + 1200), 401),
        (
            "replayed body with a new timestamp",
            S,
            SignedRequest(
                body,
                {**valid.headers, "X-Slack-Request-Timestamp": str(old_ts + 700)},
            ),
            401,
        ),
        (
            "timestamp not a number",
            S,
            SignedRequest(body, {**valid.headers, "X-Slack-Request-Timestamp": "now"}),
            401,
        ),
        # Headers arrive as Latin-1: "²" is a digit to str.isdigit() and not to int().
        (
            "timestamp with a non-ASCII digit",
            S,
            SignedRequest(body, {**valid.headers, "X-Slack-Request-Timestamp": "1\u00b2"}),
            401,
        ),
        (
            "signature with non-ASCII characters",
            S,
            SignedRequest(body, {**valid.headers, "X-Slack-Signature": "v0=" + "\u00e9" * 64}),
            401,
        ),
        (
            "JSON instead of a form",
            S,
            signed(body=json.dumps(good).encode(), content_type="application/json"),
            400,
        ),
        ("form without payload", S, signed(body=b"token=x&foo=bar"), 400),
        ("payload not JSON", S, signed(body=b"payload=%7Bnot+json"), 400),
        ("not a block action", S, signed({**good, "type": "view_submission"}), 400),
        ("two actions at once", S, signed({**good, "actions": good["actions"] * 2}), 400),
        ("unknown action_id", S, signed(with_action(action_id="delete-everything")), 400),
        (
            "unknown choice",
            S,
            signed(with_option(f"reboot:{alert_ref}")),
            400,
        ),
        (
            "unknown alert reference",
            S,
            signed(with_option("silence-1h:999999.1")),
            400,
        ),
        (
            "a label value instead of a reference",
            S,
            signed(with_option("silence-1h:dgx-spark-01")),
            400,
        ),
        ("a user id that is not Slack's", S, signed({**good, "user": {"id": "<!everyone>"}}), 400),
        ("body over the cap", S, signed(body=b"payload=" + b"x" * (300 * 1024)), 413),
        (
            "PagerDuty: no signature",
            P,
            replace(pd_valid, headers={"Content-Type": "application/json"}),
            401,
        ),
        ("PagerDuty: another secret", P, pagerduty_request(("old-secret",), pd_good), 401),
        (
            "PagerDuty: signature of another body",
            P,
            SignedRequest(pd_valid.body.replace(b"acknowledged", b"resolved"), pd_valid.headers),
            401,
        ),
        ("PagerDuty: signed but not JSON", P, _pd_raw(b"{not json"), 400),
        (
            "PagerDuty: signed event without id",
            P,
            _pd_raw(json.dumps({"event": {"event_type": "incident.resolved"}}).encode()),
            400,
        ),
        ("PagerDuty: body over the cap", P, _pd_raw(b" " * (200 * 1024) + pd_valid.body), 413),
    ]


def _pd_raw(body: bytes) -> Any:
    return SignedRequest(
        body,
        {
            "Content-Type": "application/json",
            "X-PagerDuty-Signature": pagerduty_signature((PAGERDUTY_SECRET,), body),
        },
    )


def test_hostile_requests_to_both_endpoints_are_refused_and_change_nothing(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    message = firing_message(app, slack, alert())
    cases = _hostile_requests(slack, message.ts)
    assert len(cases) >= 15
    before, calls, events = state_counts(engine), len(slack.calls), len(pagerduty.events)
    for what, path, request, expected in cases:
        answer = send(app, path, request)
        assert answer.status_code == expected, (what, answer.status_code, answer.get_json())
        assert answer.get_json()["error"], what
        text = answer.get_data(as_text=True)
        assert SLACK_SECRET not in text and PAGERDUTY_SECRET not in text, what
        deliver_until_settled(app)
        assert state_counts(engine) == before, what
        assert len(slack.calls) == calls and len(pagerduty.events) == events, what
    assert windows(engine) == []


# -- PagerDuty webhooks v3 -------------------------------------------------------------------


def paged(app: Flask, slack: FakeSlack, pagerduty: FakePagerDuty) -> tuple[str, str]:
    """A critical alert paged and posted: (its incident key, its Slack message ts)."""
    message = firing_message(app, slack, alert())
    (trigger,) = pagerduty.triggers()
    return str(trigger["dedup_key"]), message.ts


def test_pagerduty_acknowledged_shows_the_responder_in_the_message_and_thread(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    key, ts = paged(app, slack, pagerduty)
    event = pagerduty_incident_event(
        "incident.acknowledged", key, status="acknowledged", agent="Ada <Admin>"
    )
    assert pd_event(app, event).status_code == 200
    deliver_until_settled(app)
    blocks = current_blocks(slack, ts)
    assert ":pager: PagerDuty: acknowledged · Ada &lt;Admin&gt;" in blocks
    assert "fake-subdomain.pagerduty.com/incidents/PINC0001|incident" in blocks
    assert thread(slack, ts) == [":eyes: Acknowledged in PagerDuty by Ada &lt;Admin&gt;."]
    (shown,) = app.test_client().get("/alerts").get_json()["alerts"]
    assert shown["response"]["acked_by"] == "Ada <Admin>"
    assert shown["response"]["ack_source"] == "pagerduty"


def test_pagerduty_events_act_once_by_event_id_and_never_move_the_state_backwards(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    from datetime import UTC, datetime, timedelta

    app = make_app(interactive, engine)
    key, ts = paged(app, slack, pagerduty)
    now = datetime.now(UTC)
    acked = pagerduty_incident_event(
        "incident.acknowledged", key, status="acknowledged", occurred_at=now
    )
    reassigned = pagerduty_incident_event(
        "incident.reassigned",
        key,
        status="acknowledged",
        assignees=("Bob Backup",),
        occurred_at=now + timedelta(seconds=30),
    )
    for event in (acked, acked, reassigned, reassigned):  # PagerDuty redelivers
        assert pd_event(app, event).status_code == 200
    # Arriving late: the unacknowledge happened before the acknowledgement.
    late = pagerduty_incident_event(
        "incident.unacknowledged", key, status="triggered", occurred_at=now - timedelta(minutes=1)
    )
    assert pd_event(app, late).status_code == 200
    deliver_until_settled(app)
    assert len(thread(slack, ts)) == 2
    assert "Reassigned in PagerDuty to Bob Backup" in thread(slack, ts)[1]
    blocks = current_blocks(slack, ts)
    assert "PagerDuty: acknowledged · Bob Backup" in blocks and "triggered" not in blocks


def test_a_resolve_in_pagerduty_while_prometheus_still_fires_is_shown_and_pages_nobody(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    firing = alert()
    key, ts = paged(app, slack, pagerduty)
    event = pagerduty_incident_event("incident.resolved", key, status="resolved")
    assert pd_event(app, event).status_code == 200
    post_alerts(app, payload(firing))  # Alertmanager's repeat: still firing
    deliver_until_settled(app)
    assert "Resolved in PagerDuty, still firing" in current_blocks(slack, ts)
    (line,) = thread(slack, ts)
    assert "resolved in PagerDuty, still firing" in line
    assert len(pagerduty.triggers()) == 1


def test_a_note_added_in_pagerduty_appears_in_the_thread(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    key, ts = paged(app, slack, pagerduty)
    acked = pagerduty_incident_event("incident.acknowledged", key, status="acknowledged")
    note = pagerduty_note_event("Rebooting <node> after the XID & checking fans")
    assert pd_event(app, acked).status_code == 200
    assert pd_event(app, note).status_code == 200
    deliver_until_settled(app)
    assert thread(slack, ts)[-1] == (
        ":memo: Note from Jane Oncall in PagerDuty: "
        "Rebooting &lt;node&gt; after the XID &amp; checking fans"
    )


def test_unknown_events_and_other_incidents_are_answered_200_and_ignored(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    paged(app, slack, pagerduty)
    before, calls = state_counts(engine), len(slack.calls)
    priority = pagerduty_incident_event(
        "incident.priority_updated", "dgx-spark-bridge/x", status="triggered"
    )
    foreign = pagerduty_incident_event(
        "incident.acknowledged", "someone-else", status="acknowledged"
    )
    orphan_note = pagerduty_note_event("hello", incident_id="PNOTOURS")
    for event in (priority, foreign, orphan_note):
        assert pd_event(app, event).status_code == 200
    deliver_until_settled(app)
    assert state_counts(engine) == before and len(slack.calls) == calls


def test_during_secret_rotation_any_matching_signature_is_accepted(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    key, ts = paged(app, slack, pagerduty)
    event = pagerduty_incident_event("incident.acknowledged", key, status="acknowledged")
    assert pd_event(app, event, secrets=("retiring-secret", PAGERDUTY_SECRET)).status_code == 200
    deliver_until_settled(app)
    assert len(thread(slack, ts)) == 1


# -- the summary -----------------------------------------------------------------------------


def test_the_summary_reports_mean_time_to_acknowledge_per_alertname(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    from datetime import UTC, datetime

    from bridge.app import create_app
    from bridge.digest.build import as_text, build_digest
    from bridge.digest.facts import read_facts
    from bridge.store import Store

    def at(hour: int, minute: int) -> datetime:
        return datetime(2026, 11, 28, hour, minute, tzinfo=UTC)

    clock = {"now": at(3, 0)}
    app = create_app(interactive, store=Store(engine), clock=lambda: clock["now"])
    starts = "2026-11-28T03:00:00Z"
    first, second = (alert(node=n, starts_at=starts) for n in ("dgx-spark-01", "dgx-spark-02"))
    post_alerts(app, payload(first, second))
    deliver_until_settled(app)
    (on_01,) = [m for m in slack.top_level() if "dgx-spark-01" in (m.text or "")]
    # Acknowledged from Slack after 10 minutes (signed at the bridge's clock) ...
    clock["now"] = at(3, 10)
    signed = slack_request(
        SLACK_SECRET,
        slack.click_payload(on_01.ts, "ack"),
        timestamp=int(clock["now"].timestamp()),
    )
    assert send(app, INTERACTIONS, signed).status_code == 200
    # ... and in PagerDuty after 30 minutes.
    key_02 = dedup_key(second["fingerprint"])
    event = pagerduty_incident_event(
        "incident.acknowledged", key_02, status="acknowledged", occurred_at=at(3, 30)
    )
    assert pd_event(app, event).status_code == 200
    with engine.connect() as conn:
        facts = read_facts(conn, at(0, 0), at(4, 0), at(4, 0))
    (stats,) = facts.alertnames
    assert (stats.alertname, stats.acknowledged, stats.mean_ack_seconds) == (
        "GPUTemperatureCritical",
        2,
        20 * 60,
    )
    text = as_text(build_digest(facts, "UTC")[1])
    assert "Mean time to acknowledge: 20m" in text
    assert "• GPUTemperatureCritical: fired 2, resolved 0, acknowledged 2 in 20m on average" in text


def test_a_group_message_acts_on_the_alert_whose_menu_was_used(
    interactive: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    app = make_app(interactive, engine)
    firing = [alert(node=f"dgx-spark-0{i}") for i in range(1, 5)]
    post_alerts(app, payload(*firing))
    deliver_until_settled(app)
    (message,) = slack.top_level()  # four new alerts: one message listing them
    menus = elements(message)
    assert len(menus) == 4
    chosen = next(m for m in menus if "dgx-spark-03" in m["placeholder"]["text"])
    assert click(app, slack, message.ts, chosen["action_id"], "Acknowledge").status_code == 200
    deliver_until_settled(app)
    (ack,) = pagerduty.acknowledges()
    assert ack["dedup_key"] == dedup_key(firing[2]["fingerprint"])
    blocks = current_blocks(slack, message.ts)
    assert blocks.count("Acknowledged by jane.oncall") == 1
    (line,) = thread(slack, message.ts)
    assert "acknowledged GPUTemperatureCritical on dgx-spark-03" in line


def test_members_of_an_allowed_user_group_may_act_and_others_may_not(
    interactive: Settings, engine: Engine, test_ca: Any
) -> None:
    with FakeSlack(test_ca, token=interactive.slack_bot_token or "") as slack:
        slack.user_groups["S0ONCALL"] = ["U0ADA"]
        settings = replace(
            interactive, slack_api_url=slack.api_url, slack_allowed_users=("U0BOSS", "S0ONCALL")
        )
        app = make_app(settings, engine)
        message = firing_message(app, slack, alert())
        before = state_counts(engine)
        assert click(app, slack, message.ts, "ack", user_id="U0EVE").status_code == 200
        slack.wait_for(lambda: slack.responses, what="an ephemeral answer")
        assert "not allowed" in slack.responses[0]["text"] and state_counts(engine) == before
        assert click(app, slack, message.ts, "ack", user_id="U0ADA").status_code == 200
        assert state_counts(engine) != before
        # Members are read once and cached: one lookup for the two clicks.
        assert len(slack.calls_to("usergroups.users.list")) == 1


def test_a_user_group_slack_cannot_list_refuses_the_click_and_says_to_retry(
    interactive: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(replace(interactive, slack_allowed_users=("S0GONE",)), engine)
    message = firing_message(app, slack, alert())
    before = state_counts(engine)
    assert click(app, slack, message.ts, "ack", user_id="U0ADA").status_code == 200
    reply = slack.wait_for(lambda: slack.responses, what="an ephemeral answer")[0]
    assert "could not be checked" in reply["text"] and state_counts(engine) == before


def test_with_the_database_unavailable_both_endpoints_answer_503_so_the_vendor_retries(
    interactive: Settings, engine: Engine
) -> None:
    broken = unreachable_like(engine)
    app = make_app(interactive, broken)
    good = {
        "type": "block_actions",
        "team": {"id": TEAM_ID},
        "user": {"id": "U0ADA"},
        "actions": [{"type": "button", "action_id": "ack", "value": "ack:1.1"}],
    }
    answer = send(app, INTERACTIONS, slack_request(SLACK_SECRET, good))
    assert answer.status_code == 503 and answer.headers.get("Retry-After")
    event = pagerduty_incident_event(
        "incident.acknowledged", "dgx-spark-bridge/fp", status="acknowledged"
    )
    assert pd_event(app, event).status_code == 503
