"""BRIDGE_RECONCILE_* and BRIDGE_ALERTMANAGER_RECEIVERS (issue 21)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yaml

from bridge.settings import SettingsError, load_settings
from tests.support.stack_config import ALERTMANAGER_CONFIG


def test_reconcile_defaults() -> None:
    s = load_settings({})
    assert s.reconcile_interval_seconds == 60
    assert s.reconcile_grace_seconds == 300


def test_default_receivers_are_the_shipped_alertmanager_yml_receivers_that_post_to_the_bridge() -> (
    None
):
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
    to_bridge = [
        r["name"]
        for r in config["receivers"]
        if any(
            urlsplit(w.get("url", "")).path == "/webhook/alertmanager"
            for w in r.get("webhook_configs", [])
        )
    ]
    assert load_settings({}).alertmanager_receivers == tuple(to_bridge)


def test_settings_are_read() -> None:
    s = load_settings(
        {
            "BRIDGE_RECONCILE_INTERVAL": "30s",
            "BRIDGE_RECONCILE_GRACE": "10m",
            "BRIDGE_ALERTMANAGER_RECEIVERS": " team-a , team-b,team-a ",
        }
    )
    assert (s.reconcile_interval_seconds, s.reconcile_grace_seconds) == (30, 600)
    assert s.alertmanager_receivers == ("team-a", "team-b")


def test_zero_turns_reconciliation_off() -> None:
    assert load_settings({"BRIDGE_RECONCILE_INTERVAL": "0"}).reconcile_interval_seconds == 0


@pytest.mark.parametrize("name", ["BRIDGE_RECONCILE_INTERVAL", "BRIDGE_RECONCILE_GRACE"])
def test_a_malformed_duration_names_its_variable(name: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings({name: "soon"})
