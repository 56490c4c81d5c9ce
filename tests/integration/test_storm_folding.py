"""Storm folding (BRIDGE_STORM_FOLD=on, the default), on both databases, through the webhook,
the delivery worker, the end-of-storm job and the PagerDuty and Slack replicas."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Engine, func, select

from bridge.app import create_app
from bridge.db.models import StormRow
from bridge.jobs import end_quiet_storms, purge_history, release_held_alerts
from bridge.notify.storm_message import STORM_PREFIX
from bridge.settings import Settings
from bridge.store import Store
from bridge.storms import DEFAULT_LIMITS, PAGERDUTY_REFRESH
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.bridge_app import ctx, worker
from tests.support.clock import Clock
from tests.support.payloads import alert, payload, resolved

T0 = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)
NAME = "GPUTemperatureCritical"
THRESHOLD = DEFAULT_LIMITS.max_changes
WINDOW = DEFAULT_LIMITS.window
GPUS_PER_NODE = 4
API_TOKEN = "t0ken-for-tests-only-0123456789abcdef"


def make(settings: Settings, engine: Engine, clock: Clock) -> Flask:
    app = create_app(settings, store=Store(engine), clock=clock)
    app.testing = True
    return app


def gpu_alerts(first: int, count: int, name: str = NAME) -> list[dict[str, Any]]:
    """`count` GPU alerts numbered from `first`, four GPUs per node, 80–94 °C."""
    return [
        alert(
            name,
            node=f"dgx-spark-{i // GPUS_PER_NODE:02}",
            gpu=str(i % GPUS_PER_NODE),
            fingerprint=f"{name}-{i:03}",
            annotations={"value": f"{80 + i % 15} °C", "threshold": "85 °C"},
        )
        for i in range(first, first + count)
    ]


def start_storm(settings: Settings, engine: Engine) -> tuple[Flask, Clock]:
    """A bridge at T0 that got 40 alerts of one name: 10 paged on their own, 30 folded."""
    clock = Clock(T0)
    app = make(settings, engine, clock)
    send(app, gpu_alerts(0, 40))
    deliver_due(app)
    return app, clock


def send(app: Flask, alerts: list[dict[str, Any]]) -> dict[str, Any]:
    response = app.test_client().post(
        "/webhook/alertmanager", data=json.dumps(payload(*alerts)), content_type="application/json"
    )
    assert response.status_code == 200, response.get_json()
    answer: dict[str, Any] = response.get_json()
    return answer


def deliver_due(app: Flask) -> None:
    """Deliver everything due now (refreshes due later stay queued)."""
    delivery = worker(app)
    for _ in range(100):
        if not delivery.drain() and not ctx(app).store.outbox_depth()["in_flight"]:
            return
    raise AssertionError("the worker kept finding work")


def storm_triggers(pd: FakePagerDuty) -> list[dict[str, Any]]:
    return [e for e in pd.triggers() if e["dedup_key"].startswith(STORM_PREFIX)]


def own_pages(pd: FakePagerDuty) -> list[str]:
    """dedup_keys of alerts paged on their own."""
    return [e["dedup_key"] for e in pd.triggers() if not e["dedup_key"].startswith(STORM_PREFIX)]


def listed(app: Flask, query: str = "") -> list[dict[str, Any]]:
    """Every alert `GET /alerts` lists (all pages)."""
    client, found, offset = app.test_client(), [], 0
    while True:
        answer = client.get(f"/alerts?limit=500&offset={offset}{query}")
        assert answer.status_code == 200, answer.get_json()
        page = answer.get_json()["alerts"]
        found += page
        offset += len(page)
        if len(page) < 500:
            return found


def storm_messages(slack: FakeSlack) -> list[Any]:
    return [m for m in slack.top_level() if " storm" in (m.text or "")]


def test_below_the_threshold_every_alert_pages_on_its_own(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app = make(live_settings, engine, Clock(T0))
    answer = send(app, gpu_alerts(0, THRESHOLD))
    deliver_due(app)

    assert answer["folded"] == 0
    assert sorted(own_pages(pagerduty)) == sorted(
        f"dgx-spark-bridge/{NAME}-{i:03}" for i in range(THRESHOLD)
    )
    assert storm_triggers(pagerduty) == []
    assert storm_messages(slack) == []
    assert [a["storm"] for a in listed(app)] == [None] * THRESHOLD


def test_above_the_threshold_a_storm_is_one_incident_and_one_message(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    for first in range(0, 120, 40):
        send(app, gpu_alerts(first, 40))
        deliver_due(app)
        clock.advance(seconds=5)

    # The first ten paged before the storm began; the other 110 are folded.
    assert len(own_pages(pagerduty)) == THRESHOLD
    assert {e["dedup_key"] for e in storm_triggers(pagerduty)} == {
        storm_triggers(pagerduty)[0]["dedup_key"]
    }
    assert len(storm_messages(slack)) == 1
    alerts = listed(app)
    assert len(alerts) == 120  # every alert stored and listed: nothing dropped
    folded = [a for a in alerts if a["storm"] is not None]
    assert len(folded) == 110
    storm_id = folded[0]["storm"]["id"]
    assert {a["storm"]["id"] for a in folded} == {storm_id}
    # No page or message of their own: the storm's rows hang on its first folded alert.
    actions = {d["action"] for a in folded for d in a["deliveries"]}
    assert actions == {"storm_open", "storm_update"}
    in_storm = listed(app, f"&storm={storm_id}")
    assert sorted(a["fingerprint"] for a in in_storm) == sorted(a["fingerprint"] for a in folded)
    trigger = storm_triggers(pagerduty)[0]
    assert trigger["payload"]["summary"].startswith(f"{NAME} storm: ")
    assert f"/alerts?storm={storm_id}" in trigger["payload"]["custom_details"]["alert list"]


def test_two_names_storming_at_once_are_two_storm_incidents(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app = make(live_settings, engine, Clock(T0))
    answer = send(app, [*gpu_alerts(0, 40), *gpu_alerts(0, 40, name="GPUThermalThrottling")])
    deliver_due(app)

    assert answer["folded"] == 60
    names = sorted(e["payload"]["class"] for e in storm_triggers(pagerduty))
    assert names == ["GPUTemperatureCritical", "GPUThermalThrottling"]
    assert len({e["dedup_key"] for e in storm_triggers(pagerduty)}) == 2
    assert len(storm_messages(slack)) == 2
    assert len(own_pages(pagerduty)) == 2 * THRESHOLD


def test_the_storm_incident_is_refreshed_at_most_once_a_minute_as_it_grows(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    send(app, gpu_alerts(0, 40))  # 10 paged on their own, 30 folded
    deliver_due(app)
    for second in (10, 30, 50):  # growth within the first minute
        clock.now = T0 + timedelta(seconds=second)
        send(app, gpu_alerts(second * 10, 20))
        deliver_due(app)
    clock.now = T0 + PAGERDUTY_REFRESH - timedelta(seconds=1)
    deliver_due(app)
    assert len(storm_triggers(pagerduty)) == 1

    clock.now = T0 + PAGERDUTY_REFRESH
    deliver_due(app)

    first, refresh = storm_triggers(pagerduty)
    assert refresh["dedup_key"] == first["dedup_key"]
    assert first["payload"]["custom_details"]["folded alerts"] == 30
    assert refresh["payload"]["custom_details"]["folded alerts"] == 90
    assert refresh["payload"]["summary"].startswith(f"{NAME} storm: 90 GPUs on ")
    worst = refresh["payload"]["custom_details"]["worst alerts"]
    assert worst[0].endswith("94 °C")
    incident = pagerduty.incident(first["dedup_key"])
    assert incident is not None and incident.is_open and incident.trigger_count == 2


def test_the_storm_message_is_updated_in_place_with_a_thread_line_for_new_nodes(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app, clock = start_storm(live_settings, engine)
    clock.advance(seconds=5)
    send(app, gpu_alerts(40, 8))  # two new nodes, within 10 s of the post: not yet shown
    deliver_due(app)
    [message] = storm_messages(slack)
    assert slack.updates(message.ts) == []

    clock.advance(seconds=6)
    deliver_due(app)

    [update] = slack.updates(message.ts)
    assert "38 GPUs on 10 nodes" in update["text"]
    [line] = slack.replies(message.ts)
    assert "2 nodes joined: dgx-spark-10, dgx-spark-11" in (line.text or "")
    assert len(storm_messages(slack)) == 1


def test_a_rate_limited_storm_update_is_retried_without_adding_updates(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    app, clock = start_storm(live_settings, engine)
    [message] = storm_messages(slack)
    clock.advance(seconds=5)
    send(app, gpu_alerts(40, 4))  # a refresh, due 10 s after the post
    clock.advance(seconds=5)
    slack.fail_next("chat.update")  # 429, Retry-After: 1
    deliver_due(app)
    clock.advance(seconds=0.5)
    send(app, gpu_alerts(44, 4))  # while the refresh waits out its Retry-After
    clock.advance(seconds=0.5)
    deliver_due(app)  # the retry shows all of it
    assert "38 GPUs" in slack.updates(message.ts)[-1]["text"]
    clock.advance(seconds=1)
    send(app, gpu_alerts(48, 4))  # a refresh is queued already: none added

    clock.advance(minutes=1)
    deliver_due(app)

    assert len(slack.updates(message.ts)) == 2
    assert "42 GPUs" in slack.updates(message.ts)[-1]["text"]


def test_the_storm_resolves_only_when_every_folded_alert_has_resolved(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    alerts = gpu_alerts(0, 40)
    send(app, alerts)
    deliver_due(app)
    [key] = {e["dedup_key"] for e in storm_triggers(pagerduty)}
    clock.advance(minutes=2)
    send(app, [resolved(a) for a in alerts[:-1]])  # one folded alert keeps firing
    clock.advance(minutes=2)
    deliver_due(app)
    clock.now = T0 + WINDOW + timedelta(minutes=5)
    assert end_quiet_storms(ctx(app)) == 0
    deliver_due(app)

    assert [e for e in pagerduty.resolves() if e["dedup_key"] == key] == []
    details = storm_triggers(pagerduty)[-1]["payload"]["custom_details"]
    assert details["still firing"] == ["dgx-spark-09 GPU 3"]
    assert details["firing now"] == 1

    send(app, [resolved(alerts[-1])])
    assert end_quiet_storms(ctx(app)) == 1
    deliver_due(app)

    assert [e["dedup_key"] for e in pagerduty.resolves()].count(key) == 1
    assert pagerduty.incident(key) is not None and not pagerduty.incident(key).is_open
    # The alerts paged before the storm keep their own incidents, and resolve them.
    own = {f"dgx-spark-bridge/{NAME}-{i:03}" for i in range(THRESHOLD)}
    assert own <= {e["dedup_key"] for e in pagerduty.resolves()}
    [message] = storm_messages(slack)
    assert "storm over after" in (slack.updates(message.ts)[-1]["text"] or "")
    assert "Storm over after" in (slack.replies(message.ts)[-1].text or "")
    assert "held 30 firings" in (slack.replies(message.ts)[-1].text or "")


def test_an_alert_of_another_name_pages_at_once_during_the_storm(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    send(app, gpu_alerts(0, 40))
    clock.advance(seconds=5)
    answer = send(app, [*gpu_alerts(40, 20), alert("DGXSparkNodeDown", gpu=None, fingerprint="nd")])
    deliver_due(app)

    assert answer["folded"] == 20
    assert "dgx-spark-bridge/nd" in own_pages(pagerduty)
    [node_down] = [a for a in listed(app) if a["alertname"] == "DGXSparkNodeDown"]
    assert node_down["storm"] is None


def test_the_pipeline_down_alert_is_never_folded(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    app = make(live_settings, engine, Clock(T0))
    many = gpu_alerts(0, THRESHOLD + 5, name="AlertingPipelineDown")
    answer = send(app, many)
    deliver_due(app)

    assert answer["folded"] == 0
    assert len(own_pages(pagerduty)) == THRESHOLD + 5
    assert storm_triggers(pagerduty) == []


def test_a_firing_after_the_storm_ended_pages_on_its_own(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    clock = Clock(T0)
    app = make(live_settings, engine, clock)
    alerts = gpu_alerts(0, 40)
    send(app, alerts)
    clock.advance(minutes=8)
    send(app, [resolved(a) for a in alerts])
    clock.advance(minutes=3)  # past the window since the last firing, not since the resolves
    assert end_quiet_storms(ctx(app)) == 1
    deliver_due(app)
    paged_before = len(own_pages(pagerduty))

    clock.advance(minutes=1)
    again = alert(NAME, node="dgx-spark-03", gpu="1", fingerprint=f"{NAME}-013")
    again["startsAt"] = "2026-12-04T03:12:00Z"  # a new episode of a folded alert
    answer = send(app, [again, *gpu_alerts(100, 1)])
    deliver_due(app)

    assert answer["folded"] == 0
    assert sorted(own_pages(pagerduty)[paged_before:]) == [
        f"dgx-spark-bridge/{NAME}-013",
        f"dgx-spark-bridge/{NAME}-100",
    ]
    assert len({e["dedup_key"] for e in storm_triggers(pagerduty)}) == 1
    refired = [a for a in listed(app) if a["fingerprint"] == f"{NAME}-013"]
    assert refired[0]["storm"] is None


def test_replicas_ingesting_one_storm_at_once_create_one_incident_and_one_message(
    live_settings: Settings,
    engine: Engine,
    db_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
) -> None:
    clock = Clock(T0)
    replicas = [make(live_settings, engine, clock) for _ in range(2)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def post(replica: Flask, first: int) -> None:
        try:
            start.wait(10)
            send(replica, gpu_alerts(first, 25))
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(replicas[n % 2], n * 25)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for replica in replicas:
        deliver_due(replica)

    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StormRow)).scalar_one() == 1
    assert len({e["dedup_key"] for e in storm_triggers(pagerduty)}) == 1
    assert len(storm_messages(slack)) == 1
    alerts = listed(replicas[0])
    assert len(alerts) == 200
    assert len(own_pages(pagerduty)) + sum(a["storm"] is not None for a in alerts) == 200


def test_replicas_ending_one_storm_at_once_resolve_it_once(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app, clock = start_storm(live_settings, engine)
    other = make(live_settings, engine, clock)
    send(app, [resolved(a) for a in gpu_alerts(0, 40)])
    clock.advance(minutes=11)
    ended: list[int] = []
    start = threading.Barrier(2)

    def end(replica: Flask) -> None:
        start.wait(10)
        ended.append(end_quiet_storms(ctx(replica)))

    threads = [threading.Thread(target=end, args=(r,)) for r in (app, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    deliver_due(app)

    assert sorted(ended) == [0, 1]
    storm_keys = [
        e["dedup_key"] for e in pagerduty.resolves() if e["dedup_key"].startswith(STORM_PREFIX)
    ]
    assert len(storm_keys) == 1
    [message] = storm_messages(slack)
    assert sum("Storm over" in (r.text or "") for r in slack.replies(message.ts)) == 1


def test_an_incoming_webhook_gets_the_storm_once_and_its_end(
    settings: Settings, engine: Engine, slack: FakeSlack, test_ca: TestCA
) -> None:
    hooked = replace(
        settings, slack_webhook_url=slack.webhook_url, ca_bundle=str(test_ca.ca_bundle)
    )
    app, clock = start_storm(hooked, engine)
    clock.advance(seconds=5)
    send(app, gpu_alerts(40, 20))  # growth: a webhook cannot update a message, so no post
    clock.advance(seconds=30)
    deliver_due(app)
    send(app, [resolved(a) for a in gpu_alerts(0, 60)])
    clock.advance(minutes=11)
    end_quiet_storms(ctx(app))
    deliver_due(app)

    storm_posts = [p["text"] for p in slack.webhook_posts if " storm" in p["text"]]
    assert len(storm_posts) == 2
    assert storm_posts[0].startswith(":rotating_light: GPUTemperatureCritical storm: 30 GPUs")
    assert "storm over after" in storm_posts[1]


def _window_over_the_storm(
    settings: Settings, engine: Engine, minutes: int, name: str = NAME
) -> tuple[Flask, Clock]:
    """A bridge at T0 with a maintenance window for the storm's alert name, from a minute
    ago for `minutes`."""
    clock = Clock(T0)
    app = make(replace(settings, api_token=API_TOKEN), engine, clock)
    window = {
        "matchers": [{"name": "alertname", "value": name, "isRegex": False, "isEqual": True}],
        "startsAt": (T0 - timedelta(minutes=1)).isoformat(),
        "endsAt": (T0 + timedelta(minutes=minutes)).isoformat(),
        "createdBy": "test",
        "comment": "cooling loop maintenance",
    }
    created = app.test_client().post(
        "/silences", json=window, headers={"Authorization": f"Bearer {API_TOKEN}"}
    )
    assert created.status_code in (200, 201), created.get_json()
    return app, clock


def test_a_maintenance_window_holds_back_a_storm_as_any_other_alert(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app, _ = _window_over_the_storm(live_settings, engine, minutes=60)

    answer = send(app, gpu_alerts(0, 40))
    deliver_due(app)

    assert (answer["suppressed"], answer["folded"]) == (40, 0)
    assert pagerduty.triggers() == []
    assert storm_messages(slack) == []


def test_a_storm_still_firing_when_its_window_ends_comes_out_as_one_storm(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty, slack: FakeSlack
) -> None:
    app, clock = _window_over_the_storm(live_settings, engine, minutes=30)
    send(app, gpu_alerts(0, 40))
    clock.advance(minutes=31)

    assert release_held_alerts(ctx(app)) == 40
    deliver_due(app)

    # Released like new firings: the name's first ten page, the rest fold into one storm.
    assert len(own_pages(pagerduty)) == THRESHOLD
    assert len({e["dedup_key"] for e in storm_triggers(pagerduty)}) == 1
    assert storm_triggers(pagerduty)[0]["payload"]["custom_details"]["folded alerts"] == 30
    assert len(storm_messages(slack)) == 1
    assert sum(a["storm"] is not None for a in listed(app)) == 30


def test_an_ended_storm_goes_with_its_alerts_after_the_retention(
    live_settings: Settings, engine: Engine
) -> None:
    clock = Clock(T0)
    app = make(replace(live_settings, retention_seconds=30 * 86400), engine, clock)
    alerts = gpu_alerts(0, 40)
    send(app, alerts)
    send(app, [resolved(a) for a in alerts])
    clock.advance(minutes=11)
    end_quiet_storms(ctx(app))
    deliver_due(app)
    clock.advance(days=29)
    purge_history(ctx(app))
    assert len(listed(app)) == 40  # within the retention: kept

    clock.advance(days=2)
    purge_history(ctx(app))

    assert listed(app) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StormRow)).scalar_one() == 0
