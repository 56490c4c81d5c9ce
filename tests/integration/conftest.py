"""PagerDuty and Slack replicas (TLS with a throwaway CA) and settings pointing at them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.interactions import PAGERDUTY_SECRET, SLACK_SECRET
from tests.support.procs import free_port

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"
SLACK_TOKEN = "xoxb-test-token"


@pytest.fixture(scope="session")
def test_ca() -> Iterator[TestCA]:
    ca = TestCA()
    yield ca
    ca.cleanup()


@pytest.fixture
def pagerduty(test_ca: TestCA) -> Iterator[FakePagerDuty]:
    with FakePagerDuty(test_ca, routing_keys={ROUTING_KEY}) as fake:
        yield fake


@pytest.fixture
def slack(test_ca: TestCA) -> Iterator[FakeSlack]:
    with FakeSlack(test_ca, token=SLACK_TOKEN) as fake:
        yield fake


@pytest.fixture
def live_settings(
    settings: Settings, pagerduty: FakePagerDuty, slack: FakeSlack, test_ca: TestCA
) -> Settings:
    """Settings with real (replica) PagerDuty and Slack instead of dry-run."""
    return replace(
        settings,
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_events_url=pagerduty.url,
        slack_bot_token=SLACK_TOKEN,
        slack_channel="#alerts",
        slack_api_url=slack.api_url,
        ca_bundle=str(test_ca.ca_bundle),
    )


@pytest.fixture
def interactive(live_settings: Settings) -> Settings:
    """Live settings with Slack buttons and PagerDuty webhooks on (tests sign as they do)."""
    return replace(
        live_settings,
        slack_signing_secret=SLACK_SECRET,
        pagerduty_webhook_secret=PAGERDUTY_SECRET,
        # Nothing listens: windows stay pending in the bridge (synced in the e2e tests).
        alertmanager_urls=(f"http://127.0.0.1:{free_port()}",),
    )
