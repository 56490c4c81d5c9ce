"""Every outbound call has a timeout: a peer that accepts the connection and never answers
costs one timeout, then the bridge goes on (PagerDuty and Prometheus hangs are tested
with delivery and enrichment; these are the other peers).

Each test shortens the module's timeout so the hang is cut quickly; without a timeout the
call would wait for the peer (the replicas hold a hung call for 30 s, the bare socket for
ever) and the assertion on the error's kind, or pytest's own timeout, fails the test.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Engine

import bridge.console.probes as probes_module
import bridge.interact.respond as respond_module
import bridge.notify.slack as slack_module
import bridge.silences.alertmanager as alertmanager_module
from bridge.settings import Settings
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import deliver_until_settled, deliveries, make_app, post_alerts
from tests.support.hanging import hanging_url
from tests.support.interactions import SLACK_SECRET, click
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until

API_TOKEN = "hanging-peers-api-token-0123456789abcdef"


@pytest.fixture(name="hanging_url")
def hanging_url_fixture() -> Iterator[str]:
    with hanging_url() as url:
        yield url


def test_a_hanging_slack_api_times_out_and_the_message_is_retried(
    live_settings: Settings, engine: Engine, slack: FakeSlack, monkeypatch: Any
) -> None:
    monkeypatch.setattr(slack_module, "TIMEOUT_SECONDS", 1)
    slack.hang_next("chat.postMessage", seconds=30)
    app = make_app(replace(live_settings, pagerduty_routing_key=None), engine)
    post_alerts(app, payload(alert()))
    deliver_until_settled(app, timeout=25)
    assert len(slack.top_level()) == 1
    row = next(d for d in deliveries(engine) if d["channel"] == "slack")
    assert row["status"] == "delivered"
    assert row["attempts"] == 2  # the hung call timed out and counted as one attempt


def test_a_hanging_alertmanager_leaves_the_window_pending_and_says_why(
    live_settings: Settings, engine: Engine, hanging_url: str, monkeypatch: Any
) -> None:
    monkeypatch.setattr(alertmanager_module, "TIMEOUT_SECONDS", 1)
    app = make_app(
        replace(live_settings, api_token=API_TOKEN, alertmanager_urls=(hanging_url,)), engine
    )
    answer = app.test_client().post(
        "/silences",
        data=json.dumps(
            {"node": "dgx-spark-02", "duration": "2h", "createdBy": "ops", "comment": "upgrade"}
        ),
        content_type="application/json",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    )
    assert answer.status_code == 201  # stored, then synced when Alertmanager answers
    listed = json.dumps(app.test_client().get("/silences").get_json())
    assert "Timeout" in listed  # the sync gave up after its timeout and said so


def test_a_hanging_response_url_times_out_off_the_request_thread(
    live_settings: Settings,
    engine: Engine,
    slack: FakeSlack,
    monkeypatch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(respond_module, "TIMEOUT_SECONDS", 1)
    settings = replace(
        live_settings, slack_signing_secret=SLACK_SECRET, slack_allowed_users=("U0BOSS",)
    )
    app = make_app(settings, engine)
    post_alerts(app, payload(alert()))
    deliver_until_settled(app)
    (message,) = slack.top_level()
    slack.hang_next("response_url", seconds=30)
    with caplog.at_level(logging.WARNING, logger="bridge.interact.respond"):
        # Refused (not in the allowed list): the answer goes to the click's response_url.
        assert click(app, slack, message.ts, "ack", user_id="U0INTERN").status_code == 200
        wait_until(
            lambda: any("ReadTimeout" in r.getMessage() for r in caplog.records) or None,
            timeout=15,
            what="the ephemeral answer's timeout",
        )


def test_a_hanging_prometheus_shows_on_the_console_within_the_probe_timeout(
    live_settings: Settings, engine: Engine, hanging_url: str
) -> None:
    app = make_app(replace(live_settings, prometheus_url=hanging_url), engine)
    page = app.test_client().get("/").get_data(as_text=True)
    assert f"no answer within {probes_module.PROBE_TIMEOUT_SECONDS:g} s" in page
