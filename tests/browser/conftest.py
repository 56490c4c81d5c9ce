"""A real headless Chromium (Debian's `chromium`) driven by Playwright, against a real
`python -m bridge serve` with the PagerDuty and Slack replicas and a real Alertmanager.

Screenshots of every page go to $BRIDGE_TEST_SCREENSHOTS (default: a pytest temp dir),
so CI can keep them as artifacts. Every test fails when the page logged a console error
(a script error, a CSP violation, a missing asset).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.integration.conftest import ROUTING_KEY, SLACK_TOKEN
from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.procs import Proc, free_port
from tests.support.required import missing_tool
from tests.support.stack_procs import start_alertmanager

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
API_TOKEN = "browser-test-api-token-0123456789abcdef"
# Chromium flags for a quiet, reproducible run: no network of its own, no first-run UI.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
AM_CONFIG = """
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


@dataclass
class Console:
    """The running bridge and everything a browser test looks at."""

    bridge: Proc
    alertmanager: Proc
    pagerduty: FakePagerDuty
    slack: FakeSlack
    screenshots: Path

    @property
    def url(self) -> str:
        return self.bridge.url


@dataclass
class ConsoleErrors:
    messages: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    tmp = tmp_path_factory.mktemp("console")
    ca = TestCA(tmp / "ca")
    am_config = tmp / "am.yml"
    am_config.write_text(AM_CONFIG)
    shots = Path(os.environ.get("BRIDGE_TEST_SCREENSHOTS") or tmp_path_factory.mktemp("shots"))
    shots.mkdir(parents=True, exist_ok=True)
    with (
        FakePagerDuty(ca, routing_keys={ROUTING_KEY}) as pagerduty,
        FakeSlack(ca, token=SLACK_TOKEN) as slack,
        start_alertmanager(am_config, tmp, free_port()) as alertmanager,
    ):
        env = bridge_env(
            tmp,
            f"sqlite:///{tmp}/console.db",
            BRIDGE_API_TOKEN=API_TOKEN,
            BRIDGE_ALERTMANAGER_URL=alertmanager.url,
            BRIDGE_PROMETHEUS_URL="http://127.0.0.1:1",
            BRIDGE_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
            BRIDGE_PAGERDUTY_EVENTS_URL=pagerduty.url,
            BRIDGE_SLACK_BOT_TOKEN=SLACK_TOKEN,
            BRIDGE_SLACK_CHANNEL="#alerts",
            BRIDGE_SLACK_API_URL=slack.api_url,
            BRIDGE_CA_BUNDLE=str(ca.ca_bundle),
            BRIDGE_TIMEZONE="Europe/Berlin",
            # Alerts here are posted to the bridge directly, never through this Alertmanager:
            # reconciling with it would resolve them once its grace is over.
            BRIDGE_RECONCILE_INTERVAL="0",
        )
        with start_bridge(tmp, env) as bridge:
            print(f"console screenshots: {shots}")
            yield Console(bridge, alertmanager, pagerduty, slack, shots)


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        missing_tool("chromium is not installed (Debian packages chromium, chromium-driver)")
    try:
        from playwright import sync_api
    except ImportError:
        missing_tool("playwright is not installed (the dev extras)")
    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=DESKTOP,
        )
        yield context
        context.close()


@pytest.fixture
def console_errors() -> ConsoleErrors:
    """What the tab logged as errors; a test that provokes one on purpose takes it out."""
    return ConsoleErrors()


@pytest.fixture
def page(browser_context: Any, console_errors: ConsoleErrors) -> Iterator[Any]:
    """A new tab; the test fails if anything in it logged a console error."""
    errors = console_errors
    tab = browser_context.new_page()
    tab.on(
        "console",
        lambda msg: errors.messages.append(msg.text) if msg.type == "error" else None,
    )
    tab.on("pageerror", lambda exc: errors.messages.append(f"page error: {exc}"))
    yield tab
    tab.close()
    assert errors.messages == [], f"browser console errors: {errors.messages}"
