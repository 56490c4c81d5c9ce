"""Links in pages and Slack messages point at the addresses people open, not at the
container names the bridge talks to (BRIDGE_ALERTMANAGER_EXTERNAL_URL, BRIDGE_GRAFANA_URL,
BRIDGE_RUNBOOK_BASE_URL), checked through a posted alert's delivered PagerDuty event and
Slack message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest
from sqlalchemy import Engine

from bridge.settings import Settings, SettingsError, load_settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import deliver_until_settled, make_app
from tests.support.bridge_app import post_alerts as post
from tests.support.payloads import alert, payload

INTERNAL_AM = "http://alertmanager:9093"
EXTERNAL_AM = "https://monitoring.example.internal:9444"
EXTERNAL_GRAFANA = "https://monitoring.example.internal:3443"
RUNBOOKS = "https://git.example.internal/ops/dgx/-/blob/main/docs/runbooks"
# As the compose file sets them for the bridge container.
COMPOSE_LIKE_ENV = {
    "BRIDGE_ALERTMANAGER_URL": INTERNAL_AM,
    "BRIDGE_ALERTMANAGER_EXTERNAL_URL": EXTERNAL_AM,
    "BRIDGE_GRAFANA_URL": EXTERNAL_GRAFANA,
    "BRIDGE_RUNBOOK_BASE_URL": RUNBOOKS,
}


def _with_links(live: Settings) -> Settings:
    loaded = load_settings(COMPOSE_LIKE_ENV)
    return replace(
        live,
        alertmanager_urls=loaded.alertmanager_urls,
        alertmanager_external_url=loaded.alertmanager_external_url,
        grafana_url=loaded.grafana_url,
        runbook_base_url=loaded.runbook_base_url,
    )


def _rule_like_alert() -> dict[str, object]:
    # As the stack's rules send it: runbook_url is the repository path.
    firing = alert()
    firing["annotations"] = {
        **firing["annotations"],  # type: ignore[dict-item]
        "runbook_url": "docs/runbooks/GPUTemperatureCritical.md",
    }
    return firing


def _deliver_one_alert(settings: Settings, engine: Engine) -> None:
    app = make_app(settings, engine)
    post(app, payload(_rule_like_alert()))
    deliver_until_settled(app)


def test_a_page_links_to_the_external_alertmanager_grafana_and_runbook(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    _deliver_one_alert(_with_links(live_settings), engine)
    (trigger,) = pagerduty.triggers()
    links = {link["text"]: link["href"] for link in trigger["links"]}
    assert links["Silence in Alertmanager"].startswith(f"{EXTERNAL_AM}/#/silences/new?filter=")
    assert links["Runbook"] == f"{RUNBOOKS}/GPUTemperatureCritical.md"
    assert links["Grafana panel"].startswith(f"{EXTERNAL_GRAFANA}/d/dgx-spark-gpu-details?")
    assert INTERNAL_AM not in json.dumps(trigger)


def test_a_slack_message_links_to_the_external_alertmanager_not_the_container(
    live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    _deliver_one_alert(_with_links(live_settings), engine)
    (message,) = slack.top_level()
    blocks = json.dumps(message.blocks)
    assert f"{EXTERNAL_AM}/#/silences/new" in blocks
    assert f"{RUNBOOKS}/GPUTemperatureCritical.md" in blocks
    assert INTERNAL_AM not in blocks


def test_without_an_external_url_the_api_url_is_used_for_links() -> None:
    settings = load_settings({"BRIDGE_ALERTMANAGER_URL": "http://am1:9093,http://am2:9093"})
    assert settings.alertmanager_external_url == "http://am1:9093"


def test_a_bad_external_url_stops_the_bridge_at_start() -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"BRIDGE_ALERTMANAGER_EXTERNAL_URL": "monitoring:9444"})
    assert str(err.value).startswith("BRIDGE_ALERTMANAGER_EXTERNAL_URL: ")


def test_a_repository_path_runbook_without_a_base_gets_no_link(
    live_settings: Settings, engine: Engine, pagerduty: FakePagerDuty
) -> None:
    # A bare path is no URL: PagerDuty and Slack would show a broken link.
    _deliver_one_alert(replace(_with_links(live_settings), runbook_base_url=""), engine)
    (trigger,) = pagerduty.triggers()
    assert "Runbook" not in {link["text"] for link in trigger["links"]}


def _check_config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check-config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_warns_when_silence_links_would_point_at_a_container_name() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_ALERTMANAGER_URL"] = INTERNAL_AM
    result = _check_config(env)
    assert result.returncode == 0, result.stderr
    assert (
        "warning: BRIDGE_ALERTMANAGER_EXTERNAL_URL: links point at http://alertmanager:9093"
        in result.stderr
    )
    env["BRIDGE_ALERTMANAGER_EXTERNAL_URL"] = EXTERNAL_AM
    quiet = _check_config(env)
    assert quiet.returncode == 0 and "warning" not in quiet.stderr


def test_the_console_alert_page_links_to_the_external_alertmanager_not_the_container(
    settings: Settings, engine: Engine
) -> None:
    app = make_app(_with_links(settings), engine)
    post(app, payload(_rule_like_alert()))
    fingerprint = _rule_like_alert()["fingerprint"]
    page = app.test_client().get(f"/alert/{fingerprint}").text
    assert f'href="{EXTERNAL_AM}/#/silences/new?filter=' in page
    assert INTERNAL_AM not in page
