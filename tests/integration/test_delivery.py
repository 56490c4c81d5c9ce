"""Delivery through the outbox to the PagerDuty and Slack replicas, faults included."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import Engine

from bridge.notify.pagerduty_event import dedup_key
from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import ctx, deliver_until_settled, deliveries, make_app
from tests.support.bridge_app import post_alerts as post
from tests.support.payloads import alert, payload, resolved

URL = "/webhook/alertmanager"


def test_critical_alert_pages_once_and_resolves(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app = make_app(live_settings, engine)
    firing = alert()
    post(app, payload(firing))
    post(app, payload(firing))  # repeat_interval re-send
    deliver_until_settled(app)
    post(app, payload(resolved(firing)))
    deliver_until_settled(app)

    (trigger,) = pagerduty.triggers()
    (resolve,) = pagerduty.resolves()
    assert trigger["dedup_key"] == resolve["dedup_key"] == dedup_key(firing["fingerprint"])
    assert trigger["payload"]["summary"] == (
        "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: 87 °C (threshold 85 °C)"
    )
    assert pagerduty.open_incidents() == []
    assert all(d["status"] == "delivered" for d in deliveries(engine))


def test_slack_resolve_updates_the_original_message_and_replies_in_thread(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(live_settings, engine)
    firing = alert()
    post(app, payload(firing))
    deliver_until_settled(app)
    (message,) = slack.top_level()
    assert "GPUTemperatureCritical" in (message.text or "")

    post(app, payload(resolved(firing)))
    deliver_until_settled(app)
    assert len(slack.top_level()) == 1  # no new top-level message
    (update,) = slack.updates(message.ts)
    assert "RESOLVED" in json.dumps(update["blocks"])
    (reply,) = slack.replies(message.ts)
    assert "resolved after 20m" in (reply.text or "")


def test_a_group_of_many_alerts_becomes_one_slack_message(
    live_settings: Settings, engine: Engine, slack: FakeSlack, pagerduty: FakePagerDuty
) -> None:
    # Sixty alerts of one name storm: with folding off they page one by one.
    app = make_app(replace(live_settings, storm_fold=False), engine)
    alerts = [alert(node=f"dgx-spark-{i:02d}") for i in range(60)]
    post(app, payload(*alerts))
    deliver_until_settled(app)
    (message,) = slack.top_level()
    assert "60 of 60 alerts firing" in (message.text or "")
    assert len(pagerduty.triggers()) == 60  # pages stay per alert

    post(app, payload(resolved(alerts[0]), *alerts[1:]))
    deliver_until_settled(app)
    assert len(slack.top_level()) == 1
    assert "59 of 60 alerts firing" in (slack.updates(message.ts)[-1]["text"] or "")


def test_pagerduty_500_then_429_then_success_is_delivered_once(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    pagerduty.fail_next(500)
    pagerduty.fail_next(429, retry_after=1)
    app = make_app(live_settings, engine)
    post(app, payload(alert()))
    deliver_until_settled(app)

    assert len(pagerduty.triggers()) == 1
    assert [r.status for r in pagerduty.requests] == [500, 429, 202]
    pd = next(d for d in deliveries(engine) if d["channel"] == "pagerduty")
    assert (pd["status"], pd["attempts"]) == ("delivered", 3)
    log = ctx(app).store.list_alerts()[0]["deliveries"][0]["attempt_log"]
    assert [a["outcome"] for a in log] == ["retry", "retry", "delivered"]
    assert [a["http_status"] for a in log] == [500, 429, 202]


def test_pagerduty_400_is_a_dead_letter_visible_in_alerts_and_metrics(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    pagerduty.fail_next(
        400,
        body={"status": "invalid event", "message": "Event object is invalid", "errors": ["bad"]},
    )
    app = make_app(live_settings, engine)
    post(app, payload(alert()))
    deliver_until_settled(app)

    pd = next(d for d in deliveries(engine) if d["channel"] == "pagerduty")
    assert pd["status"] == "dead" and pd["attempts"] == 1
    listed = app.test_client().get("/alerts").get_json()
    dead = [d for d in listed["alerts"][0]["deliveries"] if d["status"] == "dead"]
    assert dead and "Event object is invalid" in dead[0]["last_error"]
    assert listed["outbox"]["dead"] == 1
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert 'alert_bridge_notifications_total{channel="pagerduty",outcome="dead"} 1.0' in text
    assert 'alert_bridge_outbox_depth{status="dead"} 1.0' in text


def test_an_invalid_routing_key_is_rejected_by_the_replica_and_dead_lettered(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    wrong = replace(live_settings, pagerduty_routing_key="X" * 32)
    app = make_app(wrong, engine)
    post(app, payload(alert()))
    deliver_until_settled(app)
    pd = next(d for d in deliveries(engine) if d["channel"] == "pagerduty")
    assert pd["status"] == "dead"
    assert pagerduty.triggers() == []


def test_slack_429_is_retried_after_retry_after(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    app = make_app(live_settings, engine)
    post(app, payload(alert()))
    deliver_until_settled(app)

    calls = slack.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert len(slack.top_level()) == 1
    sl = next(d for d in deliveries(engine) if d["channel"] == "slack")
    assert sl["attempts"] == 2
    log = ctx(app).store.list_alerts()[0]["deliveries"][1]["attempt_log"]
    first, second = (a["at"] for a in log)
    from datetime import datetime

    waited = (datetime.fromisoformat(second) - datetime.fromisoformat(first)).total_seconds()
    assert waited >= 1.0  # Retry-After: 1 honoured


def test_slack_ok_false_is_permanent(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app = make_app(replace(live_settings, slack_channel="#no-such-channel"), engine)
    post(app, payload(alert()))
    deliver_until_settled(app)
    sl = next(d for d in deliveries(engine) if d["channel"] == "slack")
    assert sl["status"] == "dead" and "channel_not_found" in sl["last_error"]


def test_pagerduty_down_keeps_the_page_pending_and_delivers_on_recovery(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    pagerduty.fail_next(503, times=4)
    app = make_app(live_settings, engine)
    firing = alert()
    post(app, payload(firing))
    post(app, payload(resolved(firing)))
    deliver_until_settled(app)
    # The resolve waited for its trigger: the replica saw them in order.
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "resolve"]


def test_hanging_pagerduty_times_out_and_retries(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, monkeypatch: Any
) -> None:
    import bridge.notify.pagerduty as pd_module

    monkeypatch.setattr(pd_module, "TIMEOUT_SECONDS", 1)
    pagerduty.hang_next(seconds=30)
    app = make_app(live_settings, engine)
    post(app, payload(alert()))
    deliver_until_settled(app, timeout=20)
    assert len(pagerduty.triggers()) == 1
    pd = next(d for d in deliveries(engine) if d["channel"] == "pagerduty")
    assert pd["attempts"] == 2


def test_dry_run_records_deliveries_without_sending(
    settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app = make_app(settings, engine)
    post(app, payload(alert()))
    deliver_until_settled(app)
    assert {d["status"] for d in deliveries(engine)} == {"dry_run"}
    assert pagerduty.requests == [] and slack.calls == []


def test_slack_incoming_webhook_posts_without_threads(
    settings: Settings, engine: Engine, slack: FakeSlack, test_ca: Any
) -> None:
    hooked = replace(
        settings, slack_webhook_url=slack.webhook_url, ca_bundle=str(test_ca.ca_bundle)
    )
    app = make_app(hooked, engine)
    firing = alert(severity="warning", name="GPUTemperatureWarning")
    post(app, payload(firing))
    deliver_until_settled(app)
    post(app, payload(resolved(firing)))
    deliver_until_settled(app)
    texts = [p["text"] for p in slack.webhook_posts]
    assert len(texts) == 2
    assert "WARNING" in texts[0] and "RESOLVED" in texts[1]
    assert {d["status"] for d in deliveries(engine)} == {"delivered"}


def test_routes_from_bridge_config_replace_the_defaults(
    live_settings: Settings, engine: Engine, tmp_path: Any, pagerduty: FakePagerDuty
) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("routes:\n  - match: {severity: warning}\n    channels: [pagerduty]\n")
    app = make_app(replace(live_settings, config_path=str(config)), engine)
    post(app, payload(alert(severity="warning"), alert(severity="critical", node="other")))
    deliver_until_settled(app)
    assert [d["channel"] for d in deliveries(engine)] == ["pagerduty"]
    assert pagerduty.triggers()[0]["payload"]["severity"] == "warning"


def test_a_dropped_slack_connection_is_retried_by_the_outbox_not_inside_the_slack_client(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    # If slack_sdk retried on its own, a post that Slack had accepted before the
    # connection dropped would appear twice, and the attempt would not be recorded.
    app = make_app(live_settings, engine)
    slack.drop_connection_next("chat.postMessage")
    post(app, payload(alert()))
    deliver_until_settled(app)
    (row,) = [d for d in deliveries(engine) if d["channel"] == "slack"]
    assert row["status"] == "delivered"
    assert row["attempts"] == 2  # the dropped one and the outbox's retry, both recorded
    assert len(slack.calls_to("chat.postMessage")) == 2
    assert len(slack.top_level()) == 1
