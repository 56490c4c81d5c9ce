"""The webhook through its HTTP contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.settings import Settings
from tests.support.bridge_app import deliveries, make_app, row_counts, unreachable_like, worker
from tests.support.payloads import alert, payload, resolved

URL = "/webhook/alertmanager"


def post(client: Any, body: Any, **headers: str) -> Any:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def test_new_firing_alert_is_stored_and_answered_with_counts(
    settings: Settings, engine: Engine
) -> None:
    app = make_app(settings, engine)
    response = post(app.test_client(), payload(alert()))
    assert response.status_code == 200
    assert response.get_json() == {
        "received": 1,
        "new": 1,
        "duplicates": 0,
        "resolved": 0,
        "notifications": 2,
        "suppressed": 0,
        "folded": 0,
    }
    assert [(d["channel"], d["action"]) for d in deliveries(engine)] == [
        ("pagerduty", "trigger"),
        ("slack", "trigger"),
    ]


def test_repeat_from_alertmanager_sends_nothing(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    post(client, payload(alert()))
    again = post(client, payload(alert()))
    assert again.get_json()["duplicates"] == 1
    assert again.get_json()["notifications"] == 0
    assert len(deliveries(engine)) == 2


def test_resolve_after_notified_firing_notifies_the_same_channels(
    settings: Settings, engine: Engine
) -> None:
    client = make_app(settings, engine).test_client()
    firing = alert()
    post(client, payload(firing))
    body = post(client, payload(resolved(firing))).get_json()
    assert body["resolved"] == 1 and body["notifications"] == 2
    assert [d["action"] for d in deliveries(engine)] == ["trigger", "trigger", "resolve", "resolve"]


def test_refire_with_new_starts_at_notifies_again(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    first = alert()
    post(client, payload(first))
    post(client, payload(resolved(first)))
    refire = alert(starts_at="2026-11-28T05:00:00Z")
    assert post(client, payload(refire)).get_json()["new"] == 1
    assert len(deliveries(engine)) == 6


def test_warning_goes_to_slack_only_and_unrouted_alerts_are_recorded_only(
    settings: Settings, engine: Engine
) -> None:
    client = make_app(settings, engine).test_client()
    post(client, payload(alert("GPUTemperatureWarning", severity="warning")))
    post(client, payload(alert("SomethingInfo", severity="info")))
    post(client, payload(alert("Watchdog", severity="none", gpu=None, node="")))
    assert [d["channel"] for d in deliveries(engine)] == ["slack"]
    assert row_counts(engine)["alerts"] == 3


def test_mixed_group_of_firing_and_resolved_alerts_is_handled_per_alert(
    settings: Settings, engine: Engine
) -> None:
    client = make_app(settings, engine).test_client()
    a, b = alert(node="dgx-spark-01"), alert(node="dgx-spark-02")
    post(client, payload(a, b))
    body = post(client, payload(resolved(a), b)).get_json()
    assert body == {
        "received": 2,
        "new": 0,
        "duplicates": 1,
        "resolved": 1,
        "notifications": 2,
        "suppressed": 0,
        "folded": 0,
    }


def test_same_payload_from_ha_peers_concurrently_notifies_once(
    settings: Settings, engine: Engine
) -> None:
    """Two Alertmanagers of an HA pair post the same group at the same moment."""
    body = json.dumps(payload(*[alert(node=f"dgx-spark-{i:02d}") for i in range(10)]))
    apps = [make_app(settings, engine) for _ in range(4)]
    barrier = threading.Barrier(len(apps) * 2)
    statuses: list[int] = []

    def send(app: Any) -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(post(client, body).status_code)

    threads = [threading.Thread(target=send, args=(app,)) for app in apps for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    # Exactly one trigger per alert and channel, whatever the interleaving.
    assert len(deliveries(engine)) == 20
    assert row_counts(engine)["alerts"] == 10


def test_watchdog_is_recorded_but_never_delivered(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    assert post(client, payload(alert("Watchdog", severity="none"))).status_code == 200
    assert deliveries(engine) == []


# --- rejected input: 4xx naming the problem, nothing stored -----------------

GOOD = payload(alert())


def _with(path: list[Any], value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(GOOD))
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


_DELETE = object()

HOSTILE: list[tuple[str, Any, int, str]] = [
    ("not JSON", b"{not json", 400, "body"),
    ("truncated JSON", b'{"version": "4", "alerts": [', 400, "body"),
    ("invalid UTF-8", b'{"version": "\xff\xfe"}', 400, "body"),
    ("JSON array body", [1, 2], 400, "body"),
    ("JSON string body", '"hello"', 400, "body"),
    ("null body", b"null", 400, "body"),
    ("missing version", _with(["version"], _DELETE), 400, "version"),
    ("unknown version", _with(["version"], "5"), 400, "version"),
    ("numeric version", _with(["version"], 4), 400, "version"),
    ("missing alerts", _with(["alerts"], _DELETE), 400, "alerts"),
    ("alerts not a list", _with(["alerts"], {"a": 1}), 400, "alerts"),
    ("alert not an object", _with(["alerts", 0], "x"), 400, "alerts[0]"),
    ("missing labels", _with(["alerts", 0, "labels"], _DELETE), 400, "alerts[0].labels"),
    ("empty labels", _with(["alerts", 0, "labels"], {}), 400, "alerts[0].labels"),
    ("label not a string", _with(["alerts", 0, "labels", "gpu"], 0), 400, "alerts[0].labels.gpu"),
    ("labels a list", _with(["alerts", 0, "labels"], ["a"]), 400, "alerts[0].labels"),
    ("bad status", _with(["alerts", 0, "status"], "pending"), 400, "alerts[0].status"),
    ("missing status", _with(["alerts", 0, "status"], _DELETE), 400, "alerts[0].status"),
    ("missing startsAt", _with(["alerts", 0, "startsAt"], _DELETE), 400, "alerts[0].startsAt"),
    ("startsAt not a time", _with(["alerts", 0, "startsAt"], "now"), 400, "alerts[0].startsAt"),
    ("startsAt a number", _with(["alerts", 0, "startsAt"], 1700000000), 400, "alerts[0].startsAt"),
    (
        "startsAt zero time",
        _with(["alerts", 0, "startsAt"], "0001-01-01T00:00:00Z"),
        400,
        "alerts[0].startsAt",
    ),
    (
        "naive startsAt",
        _with(["alerts", 0, "startsAt"], "2026-11-28T03:00:00"),
        400,
        "alerts[0].startsAt",
    ),
    ("endsAt garbage", _with(["alerts", 0, "endsAt"], "later"), 400, "alerts[0].endsAt"),
    (
        "annotation not a string",
        _with(["alerts", 0, "annotations", "x"], {"y": 1}),
        400,
        "alerts[0].annotations.x",
    ),
    (
        "fingerprint not a string",
        _with(["alerts", 0, "fingerprint"], 12),
        400,
        "alerts[0].fingerprint",
    ),
    (
        "huge fingerprint",
        _with(["alerts", 0, "fingerprint"], "f" * 500),
        400,
        "alerts[0].fingerprint",
    ),
    ("truncatedAlerts negative", _with(["truncatedAlerts"], -1), 400, "truncatedAlerts"),
    (
        "huge label value",
        _with(["alerts", 0, "labels", "x"], "v" * 10000),
        400,
        "alerts[0].labels.x",
    ),
    (
        "second alert bad",
        {**GOOD, "alerts": [GOOD["alerts"][0], {"status": "firing"}]},
        400,
        "alerts[1]",
    ),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_payload_is_rejected_naming_the_field_and_nothing_is_stored(
    settings: Settings, engine: Engine, case: str, body: Any, status: int, field: str
) -> None:
    client = make_app(settings, engine).test_client()
    response = post(client, body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()
    assert field in error["error"]
    assert error["detail"]["field"].startswith(field)
    assert row_counts(engine) == {
        "alerts": 0,
        "alert_transitions": 0,
        "deliveries": 0,
        "delivery_attempts": 0,
    }


def test_wrong_content_type_is_415_and_stores_nothing(settings: Settings, engine: Engine) -> None:
    client = make_app(settings, engine).test_client()
    response = client.post(URL, data=json.dumps(GOOD), content_type="text/plain")
    assert response.status_code == 415
    assert "Content-Type" in response.get_json()["detail"]
    assert row_counts(engine)["alerts"] == 0


def test_body_over_the_cap_is_413_and_stores_nothing(settings: Settings, engine: Engine) -> None:
    small = replace(settings, max_body_bytes=2048)
    client = make_app(small, engine).test_client()
    big = payload(*[alert(node=f"n{i}") for i in range(50)])
    response = post(client, big)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload too large"
    assert row_counts(engine)["alerts"] == 0


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", "bearer", "Basic dG9rZW4=", "Bearer webhook-secret-x"],
)
def test_webhook_requires_the_bearer_token_when_configured(
    settings: Settings, engine: Engine, header: str | None
) -> None:
    secured = replace(settings, webhook_token="webhook-secret")
    client = make_app(secured, engine).test_client()
    headers = {"Authorization": header} if header else {}
    response = post(client, GOOD, **headers)
    assert response.status_code == 401
    assert "webhook-secret" not in response.get_data(as_text=True)
    assert row_counts(engine)["alerts"] == 0
    ok = post(client, GOOD, Authorization="Bearer webhook-secret")
    assert ok.status_code == 200


def test_database_unavailable_answers_503_so_alertmanager_retries(
    settings: Settings, engine: Engine
) -> None:
    broken = unreachable_like(engine)
    client = make_app(settings, broken).test_client()
    response = post(client, GOOD)
    assert response.status_code == 503
    assert response.headers.get("Retry-After")
    assert response.get_json()["error"] == "database unavailable"


def test_metrics_count_received_alerts_and_duplicates(settings: Settings, engine: Engine) -> None:
    app = make_app(settings, engine)
    client = app.test_client()
    post(client, payload(alert()))
    post(client, payload(alert()))
    text = client.get("/metrics").get_data(as_text=True)
    assert 'alert_bridge_alerts_received_total{status="firing"} 2.0' in text
    assert "alert_bridge_alerts_duplicates_total 1.0" in text
    assert 'alert_bridge_outbox_depth{status="pending"} 2.0' in text
    worker(app).drain()
    text = client.get("/metrics").get_data(as_text=True)
    assert 'alert_bridge_notifications_total{channel="pagerduty",outcome="dry_run"} 1.0' in text
    assert "alert_bridge_delivery_latency_seconds_bucket" in text
