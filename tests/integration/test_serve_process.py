"""A real `alert-bridge serve` process: SIGKILL loses nothing, SIGTERM drains, no secret leaks."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.conftest import ROUTING_KEY, SLACK_TOKEN
from tests.support.bridge_app import deliveries
from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until

pytestmark = pytest.mark.slow

WEBHOOK_TOKEN = "hook-Tok3n-never-logged"
API_TOKEN = "api-Tok3n-never-logged-0123456789abcdef"


def live_env(
    tmp_path: Path, db_url: str, pagerduty: FakePagerDuty, slack: FakeSlack, ca: TestCA
) -> dict[str, str]:
    return bridge_env(
        tmp_path,
        db_url,
        BRIDGE_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
        BRIDGE_PAGERDUTY_EVENTS_URL=pagerduty.url,
        BRIDGE_SLACK_BOT_TOKEN=SLACK_TOKEN,
        BRIDGE_SLACK_CHANNEL="#alerts",
        BRIDGE_SLACK_API_URL=slack.api_url,
        BRIDGE_CA_BUNDLE=str(ca.ca_bundle),
        BRIDGE_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        BRIDGE_API_TOKEN=API_TOKEN,
    )


def send(url: str, body: dict[str, object]) -> requests.Response:
    return requests.post(
        f"{url}/webhook/alertmanager",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {WEBHOOK_TOKEN}"},
        timeout=10,
    )


def test_sigkill_after_200_before_delivery_delivers_after_restart(
    tmp_path: Path,
    db_url: str,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    env = live_env(tmp_path, db_url, pagerduty, slack, test_ca)
    pagerduty.fail_next(503, times=1000)  # PagerDuty is down: the page stays pending
    slack.fail_next("chat.postMessage", status=503, times=1000)
    bridge = start_bridge(tmp_path, env)
    try:
        assert send(bridge.url, payload(alert())).status_code == 200
        # Killed between attempts: answered 200, tried, not delivered, waiting to retry
        # (a row killed mid-request would wait for its 60 s lease instead).
        wait_until(
            lambda: (
                all(d["status"] == "pending" and d["attempts"] >= 1 for d in deliveries(engine))
                or None
            ),
            timeout=15,
            what="both deliveries failed once and pending",
        )
    finally:
        bridge.popen.send_signal(signal.SIGKILL)
        bridge.popen.wait(timeout=10)
    assert pagerduty.triggers() == []

    pagerduty.reset()
    slack.reset()
    with start_bridge(tmp_path, env, name="bridge-restarted"):
        pagerduty.wait_for_events(1, timeout=20)
        slack.wait_for_messages(1, timeout=20)
        wait_until(
            lambda: all(d["status"] == "delivered" for d in deliveries(engine)) or None,
            timeout=10,
            what="outbox delivered",
        )
    assert len(pagerduty.triggers()) == 1
    assert len(slack.top_level()) == 1


def test_sigterm_finishes_in_flight_delivery_and_leaves_the_rest_pending(
    tmp_path: Path,
    db_url: str,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    # Thirty alerts of one name storm: with folding off each is a page of its own.
    env = {**live_env(tmp_path, db_url, pagerduty, slack, test_ca), "BRIDGE_STORM_FOLD": "off"}
    pagerduty.set_latency(2.0)  # every page takes 2 s: SIGTERM lands mid-request
    bridge = start_bridge(tmp_path, env)
    many = payload(*[alert(node=f"dgx-spark-{i:02d}") for i in range(30)])
    assert send(bridge.url, many).status_code == 200
    wait_until(lambda: pagerduty.requests or None, timeout=10, what="a page in flight")
    bridge.popen.send_signal(signal.SIGTERM)
    assert bridge.popen.wait(timeout=30) == 0
    bridge.stop()

    rows = [d for d in deliveries(engine) if d["channel"] == "pagerduty"]
    statuses = {d["status"] for d in rows}
    assert "in_flight" not in statuses  # nothing abandoned mid-flight
    assert "pending" in statuses  # the rest waits for the next start
    assert sum(d["status"] == "delivered" for d in rows) == len(pagerduty.triggers())
    assert "no longer accepting" in bridge.log(lines=100000)
    assert "Traceback" not in bridge.log(lines=100000)
    assert " ERROR " not in bridge.log(lines=100000)  # a clean stop is not an error


def test_secrets_never_appear_in_logs_or_api_output(
    tmp_path: Path,
    db_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    env = live_env(tmp_path, db_url, pagerduty, slack, test_ca)
    pagerduty.fail_next(400)  # error paths are where secrets usually leak
    slack.fail_next("chat.postMessage", error="invalid_auth")
    with start_bridge(tmp_path, env) as bridge:
        firing = alert()
        assert send(bridge.url, payload(firing)).status_code == 200
        assert send(bridge.url, payload(alert(node="dgx-spark-02"))).status_code == 200
        wait_until(
            lambda: (len(pagerduty.triggers()) >= 1 and len(slack.top_level()) >= 1) or None,
            timeout=15,
            what="deliveries",
        )
        outputs = [
            requests.get(f"{bridge.url}{path}", timeout=5).text
            for path in ("/alerts", "/metrics", "/readyz", "/openapi.json")
        ]
        outputs.append(requests.post(f"{bridge.url}/webhook/alertmanager", timeout=5).text)
    outputs.append(bridge.log(lines=100000))
    for secret in (ROUTING_KEY, SLACK_TOKEN, WEBHOOK_TOKEN, API_TOKEN):
        for text in outputs:
            assert secret not in text


def test_a_body_over_the_cap_gets_its_413_even_when_the_client_sends_it_all(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    # Python's urllib (like Alertmanager) writes the whole body before reading the answer:
    # a server that answers and closes mid-upload shows it a connection reset, which
    # Alertmanager would retry although the request can never succeed.
    import urllib.error
    import urllib.request

    with start_bridge(tmp_path, bridge_env(tmp_path, db_url)) as bridge:
        # Over the 5 MiB cap, inside the headroom waitress reads (bigger ones it refuses on
        # the headers alone: test_serve_connections.py).
        big = alert(annotations={"summary": "x" * (5 * 1024 * 1024 + 256 * 1024)})
        body = json.dumps(payload(big)).encode()
        request = urllib.request.Request(  # noqa: S310 - our own http URL
            f"{bridge.url}/webhook/alertmanager",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)  # noqa: S310 - our own http URL
        assert refused.value.code == 413
        assert json.loads(refused.value.read())["error"] == "payload too large"
        assert requests.get(f"{bridge.url}/alerts", timeout=5).json()["alerts"] == []
