"""The secrets `test_serve_process` does not cover never reach a log line, even at DEBUG.

The Slack incoming-webhook URL (its path is the credential), both signing secrets and the
database password, each driven through the paths where a secret usually leaks: a failed
delivery, a badly signed request, and the settings printed at start.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from sqlalchemy import make_url

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.signing import pagerduty_request, slack_request
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.conftest import ROUTING_KEY
from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until

pytestmark = pytest.mark.slow

SLACK_WEBHOOK_PATH = "/services/T0SECRET/B0SECRET/webhookSecretPathNeverLogged"
SLACK_SIGNING_SECRET = "slack-signing-secret-never-logged-0123"
PD_WEBHOOK_SECRET = "pagerduty-webhook-secret-never-logged-4567"
DB_PASSWORD = "database-password-never-logged-89ab"


def _with_password(db_url: str) -> str:
    """The PostgreSQL URL with a password (trust auth ignores it); SQLite has none to leak."""
    if not db_url.startswith("postgresql"):
        return db_url
    url = make_url(db_url)
    return url.set(username=url.username or "root", password=DB_PASSWORD).render_as_string(
        hide_password=False
    )


def test_webhook_url_signing_secrets_and_database_password_never_reach_the_log_at_debug(
    tmp_path: Path,
    db_url: str,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
    test_ca: TestCA,
) -> None:
    slack.webhook_path = SLACK_WEBHOOK_PATH
    env = bridge_env(
        tmp_path,
        _with_password(db_url),
        BRIDGE_LOG_LEVEL="DEBUG",
        BRIDGE_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
        BRIDGE_PAGERDUTY_EVENTS_URL=pagerduty.url,
        BRIDGE_SLACK_WEBHOOK_URL=slack.webhook_url,
        BRIDGE_CA_BUNDLE=str(test_ca.ca_bundle),
        BRIDGE_SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET,
        BRIDGE_PAGERDUTY_WEBHOOK_SECRET=PD_WEBHOOK_SECRET,
    )
    # The error paths: the webhook refuses the first post, so the failure gets logged.
    slack.fail_next("webhook", status=404, times=1)
    with start_bridge(tmp_path, env) as bridge:
        for node in ("dgx-spark-01", "dgx-spark-02"):
            answer = requests.post(
                f"{bridge.url}/webhook/alertmanager",
                data=json.dumps(payload(alert(node=node))),
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            assert answer.status_code == 200
        wait_until(lambda: len(slack.webhook_posts) >= 1 or None, timeout=20, what="a webhook post")
        # Badly signed requests (wrong secret) on both signed endpoints.
        wrong_slack = slack_request("not-the-secret", {"type": "block_actions"})
        assert (
            requests.post(
                f"{bridge.url}/slack/interactions",
                data=wrong_slack.body,
                headers=wrong_slack.headers,
                timeout=10,
            ).status_code
            == 401
        )
        wrong_pd = pagerduty_request(["not-the-secret"], {"event": {}})
        assert (
            requests.post(
                f"{bridge.url}/pagerduty/webhook",
                data=wrong_pd.body,
                headers=wrong_pd.headers,
                timeout=10,
            ).status_code
            == 401
        )
        outputs = [
            requests.get(f"{bridge.url}{path}", timeout=5).text
            for path in ("/alerts", "/metrics", "/readyz", "/openapi.json")
        ]
    log = bridge.log(lines=100000)
    assert " DEBUG " in log  # the level under test really was on
    for secret in (SLACK_WEBHOOK_PATH, SLACK_SIGNING_SECRET, PD_WEBHOOK_SECRET, DB_PASSWORD):
        assert secret not in log
        assert secret.rsplit("/", 1)[-1] not in log
        for text in outputs:
            assert secret not in text
