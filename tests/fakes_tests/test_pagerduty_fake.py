"""The PagerDuty replica enforces the Events API v2 contract, driven by the real client."""

from __future__ import annotations

import re
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pagerduty
import pytest
import requests

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.tls import TestCA

from .helpers import standalone

ROUTING_KEY = "0123456789abcdef0123456789abcdef"
OTHER_ROUTING_KEY = "fedcba9876543210fedcba9876543210"
INVALID_EVENT = {"status": "invalid event", "message": "Event object is invalid"}


def make_client(
    fake: FakePagerDuty, ca: TestCA, key: str = ROUTING_KEY
) -> pagerduty.EventsApiV2Client:
    client = pagerduty.EventsApiV2Client(key, base_url=fake.url, verify=ca.client_ssl_context())
    # The client's own retry loop sleeps 1.5 s and more between attempts; keep its retry
    # logic but make it instant, and surface network errors on the first failure.
    client.sleep_timer = 0.001
    client.max_network_attempts = 0
    client.timeout = 5
    return client


@pytest.fixture
def client(fake_pagerduty: FakePagerDuty, fake_ca: TestCA) -> Iterator[pagerduty.EventsApiV2Client]:
    with make_client(fake_pagerduty, fake_ca) as client:
        yield client


def trigger(**overrides: Any) -> dict[str, Any]:
    """A valid trigger body without routing_key (the client adds its own)."""
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": "spark-01/XidError",
        "payload": {"summary": "XID 79 on spark-01", "source": "spark-01", "severity": "critical"},
    }
    payload_overrides = overrides.pop("payload", {})
    event.update(overrides)
    event["payload"] = {**event["payload"], **payload_overrides}
    return event


def enqueue(client: pagerduty.EventsApiV2Client, event: dict[str, Any]) -> httpx2.Response:
    return client.post("/v2/enqueue", json=event)


# -- accepted events ------------------------------------------------------------------------


def test_valid_trigger_is_accepted_and_recorded(client, fake_pagerduty):
    dedup_key = client.trigger(
        "XID 79 on spark-01",
        "spark-01",
        dedup_key="spark-01/XidError",
        custom_details={"gpu": "0"},
    )

    assert dedup_key == "spark-01/XidError"
    [event] = fake_pagerduty.wait_for_events(1)
    assert event["routing_key"] == ROUTING_KEY
    assert event["payload"]["summary"] == "XID 79 on spark-01"
    assert event["payload"]["custom_details"] == {"gpu": "0"}
    assert event["received_at"] <= time.monotonic()
    [request] = fake_pagerduty.requests
    assert request.status == 202
    assert request.response == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "spark-01/XidError",
    }
    assert request.headers["User-Agent"].startswith("python-pagerduty/")
    assert fake_pagerduty.incident("spark-01/XidError").is_open


def test_trigger_without_dedup_key_gets_a_generated_one(client, fake_pagerduty):
    dedup_key = client.trigger("disk full", "spark-02")

    assert re.fullmatch(r"[0-9a-f]{32}", dedup_key)
    assert fake_pagerduty.incident(dedup_key).summary == "disk full"


def test_trigger_with_every_optional_field_is_accepted(client, fake_pagerduty):
    event = trigger(
        payload={
            "timestamp": "2025-05-01T12:00:00.000+00:00",
            "component": "gpu0",
            "group": "spark",
            "class": "xid",
            "custom_details": {"xid": 79},
        },
        images=[{"src": "https://grafana.example/x.png", "href": "https://g", "alt": "temp"}],
        links=[{"href": "https://runbooks.example/xid", "text": "runbook"}],
        client="alert-bridge",
        client_url="https://bridge.example/",
    )

    assert enqueue(client, event).status_code == 202
    assert fake_pagerduty.events[0]["links"][0]["text"] == "runbook"


def test_summary_of_1024_characters_is_the_longest_accepted(client):
    assert enqueue(client, trigger(payload={"summary": "x" * 1024})).status_code == 202

    response = enqueue(client, trigger(payload={"summary": "x" * 1025}))

    assert response.status_code == 400
    assert response.json()["errors"] == [
        "Length of 'payload.summary' is too long (must be at most 1024 characters)"
    ]


# -- rejected events --------------------------------------------------------------------------


def test_routing_key_of_31_characters_is_an_invalid_event(fake_pagerduty, fake_ca):
    with make_client(fake_pagerduty, fake_ca, key=ROUTING_KEY[:31]) as short_key_client:
        response = enqueue(short_key_client, trigger())
        with pytest.raises(pagerduty.HttpError) as raised:
            short_key_client.trigger("x", "y")

    assert response.status_code == 400
    assert response.json() == {
        **INVALID_EVENT,
        "errors": ["Length of 'routing_key' is incorrect (should be 32 characters)"],
    }
    assert raised.value.response.status_code == 400
    assert fake_pagerduty.events == []
    assert [r.status for r in fake_pagerduty.requests] == [400, 400]


@pytest.mark.parametrize(
    ("event", "error"),
    [
        (trigger(event_action="escalate"), "'event_action' is invalid"),
        (trigger(payload={"severity": "fatal"}), "'payload.severity' is invalid"),
        (trigger(payload={"source": ""}), "'payload.source' is missing or blank"),
        (trigger(payload={"timestamp": "yesterday"}), "'payload.timestamp' is invalid"),
        (trigger(payload={"custom_details": "text"}), "'payload.custom_details' must be"),
        (trigger(dedup_key="k" * 256), "Length of 'dedup_key' is too long"),
        (trigger(images=[{"src": "http://insecure/x.png"}]), "'images[0].src' must be an https"),
        (trigger(links=[{"text": "no href"}]), "'links[0].href' is missing or blank"),
        ({"event_action": "resolve"}, "'dedup_key' is missing or blank"),
        ({"event_action": "acknowledge", "dedup_key": ""}, "'dedup_key' is missing or blank"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_contract_violations_are_invalid_events(client, fake_pagerduty, event, error):
    response = enqueue(client, event)

    assert response.status_code == 400
    body = response.json()
    assert {k: body[k] for k in ("status", "message")} == INVALID_EVENT
    assert any(e.startswith(error) for e in body["errors"]), body["errors"]
    assert fake_pagerduty.events == []


def test_body_over_512_kb_is_an_invalid_event(client):
    big = trigger(payload={"custom_details": {"log": "x" * (512 * 1024)}})

    response = enqueue(client, big)

    assert response.status_code == 400
    assert "too large" in response.json()["errors"][0]


def test_body_that_is_not_json_is_an_invalid_event(client):
    response = client.post("/v2/enqueue", content=b"{not json")

    assert response.status_code == 400
    assert response.json()["status"] == "invalid event"


def test_unknown_routing_key_is_rejected_when_keys_are_configured(fake_ca):
    with FakePagerDuty(fake_ca, routing_keys={ROUTING_KEY}) as fake:
        with make_client(fake, fake_ca, key=OTHER_ROUTING_KEY) as stranger:
            rejected = enqueue(stranger, trigger())
        with make_client(fake, fake_ca) as known:
            accepted = enqueue(known, trigger())

    assert rejected.status_code == 400
    assert rejected.json()["errors"] == ["Invalid routing key"]
    assert accepted.status_code == 202


def test_client_that_does_not_trust_the_ca_cannot_connect(fake_pagerduty):
    untrusting = pagerduty.EventsApiV2Client(ROUTING_KEY, base_url=fake_pagerduty.url)
    untrusting.max_network_attempts = 0

    with pytest.raises(pagerduty.Error) as raised:
        untrusting.trigger("x", "y")

    assert "CERTIFICATE_VERIFY_FAILED" in repr(raised.value.__cause__)


# -- alert lifecycle --------------------------------------------------------------------------


def test_resolve_closes_a_second_resolve_is_dropped_and_a_new_trigger_reopens(
    client, fake_pagerduty
):
    client.trigger("XID 79", "spark-01", dedup_key="k")
    client.trigger("XID 79 again", "spark-01", dedup_key="k")
    client.resolve("k")
    client.resolve("k")
    client.trigger("XID 79 back", "spark-01", dedup_key="k")

    first, second = fake_pagerduty.incidents["k"]
    assert (first.status, first.trigger_count, first.resolved_at is not None) == (
        "resolved",
        2,
        True,
    )
    assert (second.status, second.summary) == ("triggered", "XID 79 back")
    assert [e["event_action"] for e in fake_pagerduty.dropped] == ["resolve"]
    assert fake_pagerduty.open_incidents() == [second]
    assert len(fake_pagerduty.triggers()) == 3
    assert len(fake_pagerduty.resolves()) == 2


def test_acknowledge_keeps_the_alert_open(client, fake_pagerduty):
    client.trigger("XID 79", "spark-01", dedup_key="k")
    client.acknowledge("k")

    assert fake_pagerduty.incident("k").status == "acknowledged"
    assert fake_pagerduty.incident("k").is_open


def test_same_dedup_key_under_two_routing_keys_is_two_alerts(client, fake_pagerduty, fake_ca):
    with make_client(fake_pagerduty, fake_ca, key=OTHER_ROUTING_KEY) as other:
        other.trigger("a", "spark-01", dedup_key="k")
    client.trigger("b", "spark-01", dedup_key="k")
    client.resolve("k")

    alerts = fake_pagerduty.incidents["k"]
    assert [(a.routing_key, a.status) for a in alerts] == [
        (OTHER_ROUTING_KEY, "triggered"),
        (ROUTING_KEY, "resolved"),
    ]


def test_rate_limit_is_per_routing_key(fake_ca):
    with (
        FakePagerDuty(fake_ca, rate_limit_per_minute=2) as fake,
        make_client(fake, fake_ca) as client,
        make_client(fake, fake_ca, key=OTHER_ROUTING_KEY) as other,
    ):
        statuses = [enqueue(client, trigger()).status_code for _ in range(2)]
        client.retry[429] = 1  # the client retries 429 forever by default
        limited = enqueue(client, trigger())
        other_key = enqueue(other, trigger())

    assert statuses == [202, 202]
    assert limited.status_code == 429
    assert limited.json()["status"] == "throttle event"
    assert other_key.status_code == 202


def test_the_documented_limit_of_120_a_minute_is_on_by_default(fake_ca):
    with FakePagerDuty(fake_ca) as fake, make_client(fake, fake_ca) as client:
        client.retry[429] = 1
        statuses = [enqueue(client, trigger(dedup_key=f"k{i}")).status_code for i in range(121)]

    assert statuses[:120] == [202] * 120
    assert statuses[120] == 429
    assert len(fake.events) == 120


# -- fault injection --------------------------------------------------------------------------


def test_injected_500_reaches_a_client_without_retries(client, fake_pagerduty):
    fake_pagerduty.fail_next(500)
    client.retry = {}

    with pytest.raises(pagerduty.ServerHttpError) as raised:
        client.trigger("x", "y")

    assert raised.value.response.status_code == 500
    assert fake_pagerduty.events == []
    assert fake_pagerduty.requests[0].fault == "status"


def test_client_default_retries_get_through_injected_503s(client, fake_pagerduty):
    fake_pagerduty.fail_next(503, times=2)

    client.trigger("x", "y", dedup_key="k")

    assert [r.status for r in fake_pagerduty.requests] == [503, 503, 202]
    assert len(fake_pagerduty.events) == 1


def test_injected_429_carries_retry_after(client, fake_pagerduty):
    fake_pagerduty.fail_next(429, times=2, retry_after=2)
    client.retry[429] = 1  # one retry, then hand us the response

    response = enqueue(client, trigger())

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["status"] == "throttle event"
    assert [r.status for r in fake_pagerduty.requests] == [429, 429]
    assert enqueue(client, trigger()).status_code == 202  # the fault is used up


def test_injected_fault_body_replaces_the_default(client, fake_pagerduty):
    fake_pagerduty.fail_next(502, body="<html>bad gateway</html>")
    client.retry = {}

    response = enqueue(client, trigger())

    assert (response.status_code, response.text) == (502, "<html>bad gateway</html>")


def test_latency_delays_the_answer(client, fake_pagerduty):
    fake_pagerduty.set_latency(0.3)

    started = time.monotonic()
    client.trigger("x", "y")

    assert time.monotonic() - started >= 0.3


def test_hang_times_out_the_client_and_stop_still_returns_promptly(fake_ca):
    fake = FakePagerDuty(fake_ca).start()
    try:
        fake.hang_next()
        with make_client(fake, fake_ca) as client:
            client.timeout = 0.5
            started = time.monotonic()
            with pytest.raises(pagerduty.Error) as raised:
                client.trigger("x", "y")
            waited = time.monotonic() - started
    finally:
        stop_started = time.monotonic()
        fake.stop()
        stopped_in = time.monotonic() - stop_started

    assert isinstance(raised.value.__cause__, httpx2.TimeoutException)
    assert 0.5 <= waited < 5
    assert fake.requests[0].fault == "hang"
    assert fake.requests[0].status is None
    assert stopped_in < 2


def test_dropped_connection_is_a_transport_error_and_the_next_request_works(client, fake_pagerduty):
    fake_pagerduty.drop_connection_next()

    with pytest.raises(pagerduty.Error) as raised:
        client.trigger("x", "y")
    client.trigger("x", "y")

    # Not a timeout: the connection closed with no status line at all.
    assert isinstance(raised.value.__cause__, httpx2.RemoteProtocolError)
    assert [(r.status, r.fault) for r in fake_pagerduty.requests] == [(None, "drop"), (202, None)]


def test_faults_apply_in_the_order_they_were_queued(client, fake_pagerduty):
    fake_pagerduty.fail_next(500)
    fake_pagerduty.drop_connection_next()
    fake_pagerduty.fail_next(503)
    client.retry = {}
    client.max_network_attempts = 1

    response = enqueue(client, trigger())  # 500; then the drop is retried into the 503
    assert response.status_code == 500
    response = enqueue(client, trigger())

    assert response.status_code == 503
    assert [r.status for r in fake_pagerduty.requests] == [500, None, 503]


# -- waiting ----------------------------------------------------------------------------------


def test_wait_for_events_wakes_up_when_another_thread_sends(client, fake_pagerduty):
    sender = threading.Timer(0.1, lambda: client.trigger("late", "spark-01"))
    sender.start()
    try:
        events = fake_pagerduty.wait_for_events(1, timeout=5)
    finally:
        sender.join()

    assert events[0]["payload"]["summary"] == "late"


def test_wait_for_fails_with_the_state_when_nothing_arrives(fake_pagerduty):
    with pytest.raises(AssertionError, match=r"timed out after 0\.1s .*0 events accepted"):
        fake_pagerduty.wait_for(lambda: fake_pagerduty.events, timeout=0.1)


# -- control API and standalone process -------------------------------------------------------


def test_control_api_injects_faults_lists_events_and_resets(client, fake_pagerduty, fake_ca):
    control = f"{fake_pagerduty.url}/_fake"
    verify = str(fake_ca.ca_bundle)
    client.retry = {}

    fault = requests.post(
        f"{control}/faults", json={"status": 500, "times": 1, "retry_after": 2}, verify=verify
    )
    failed = enqueue(client, trigger())
    accepted = enqueue(client, trigger())
    events = requests.get(f"{control}/events", verify=verify).json()
    incidents = requests.get(f"{control}/incidents", verify=verify).json()
    requests.post(f"{control}/reset", verify=verify).raise_for_status()

    assert fault.json() == {"ok": True}
    assert (failed.status_code, failed.headers["Retry-After"]) == (500, "2")
    assert accepted.status_code == 202
    assert [e["payload"]["summary"] for e in events] == ["XID 79 on spark-01"]
    assert incidents["spark-01/XidError"][0]["status"] == "triggered"
    assert requests.get(f"{control}/events", verify=verify).json() == []
    assert fake_pagerduty.requests == []


def test_control_api_rejects_a_malformed_fault(fake_pagerduty, fake_ca):
    response = requests.post(
        f"{fake_pagerduty.url}/_fake/faults", json={"times": 2}, verify=str(fake_ca.ca_bundle)
    )

    assert response.status_code == 400


def test_standalone_entry_point_serves_until_sigterm(tmp_path: Path):
    with standalone("tests.fakes.pagerduty", tmp_path) as (url, _process):
        ca_bundle = tmp_path / "ca.pem"
        client = pagerduty.EventsApiV2Client(
            ROUTING_KEY, base_url=url, verify=ssl.create_default_context(cafile=ca_bundle)
        )
        dedup_key = client.trigger("from another process", "spark-01", dedup_key="k")
        events = requests.get(f"{url}/_fake/events", verify=str(ca_bundle)).json()

    assert dedup_key == "k"
    assert [e["dedup_key"] for e in events] == ["k"]


def test_faults_aimed_at_a_dedup_key_prefix_spare_every_other_event(client, fake_pagerduty):
    fake_pagerduty.fail_events("storm/", status=503, times=2)
    client.retry = {}

    answers = [
        enqueue(client, trigger(dedup_key=key)).status_code
        for key in ("storm/a", "page-1", "storm/a", "storm/a")
    ]

    assert answers == [503, 202, 503, 202]
    assert [e["dedup_key"] for e in fake_pagerduty.events] == ["page-1", "storm/a"]
