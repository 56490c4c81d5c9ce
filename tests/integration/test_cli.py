"""The command line as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import REPO_ROOT


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.run(
        [sys.executable, "-m", "bridge", *args],
        cwd=REPO_ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"BRIDGE_PAGERDUTY_ROUTING_KEY": "too-short"},
            "alert-bridge: BRIDGE_PAGERDUTY_ROUTING_KEY: must be 32 characters, got 9",
        ),
        (
            {"BRIDGE_PROMETHEUS_URL": "prometheus:9090"},
            "alert-bridge: BRIDGE_PROMETHEUS_URL: 'prometheus:9090' is not a valid URL",
        ),
    ],
)
def test_serve_stops_with_one_line_naming_the_bad_setting(
    env: dict[str, str], expected: str
) -> None:
    result = run("serve", env=env)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(expected)
    assert "too-short" not in result.stderr


WEAK_API_TOKENS = [
    ("api-token", "9 characters, at least 32"),
    ("changeme" * 5, "8 different characters"),
    # What an operator who copied the example file without editing it would run with.
    (
        (REPO_ROOT / "secrets" / "bridge-api-token.example").read_text().strip(),
        "secrets/bridge-api-token.example",
    ),
]


@pytest.mark.parametrize(("token", "why"), WEAK_API_TOKENS)
@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_a_weak_api_token_stops_serve_and_check_config_saying_why(
    tmp_path: Path, command: str, token: str, why: str
) -> None:
    env = {"BRIDGE_API_TOKEN": token, "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}
    result = run(command, env=env)
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("alert-bridge: BRIDGE_API_TOKEN: too weak"), line
    assert why in line and "openssl rand -hex 32" in line
    assert token not in result.stderr + result.stdout


def test_db_upgrade_then_current_reports_head(tmp_path: Path) -> None:
    env = {"BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    assert "empty" in run("db", "current", env=env).stdout
    upgraded = run("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "(at head)" in run("db", "current", env=env).stdout


def test_check_config_prints_settings_without_secrets(tmp_path: Path) -> None:
    key = "K" * 32
    result = run("check-config", env={"BRIDGE_PAGERDUTY_ROUTING_KEY": key})
    assert result.returncode == 0, result.stderr
    assert "configuration ok" in result.stdout
    assert key not in result.stdout


def test_check_config_rejects_a_bad_routes_file(tmp_path: Path) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text("routes:\n  - match: {severity: critical}\n    channels: [email]\n")
    result = run("check-config", env={"BRIDGE_CONFIG": str(config)})
    assert result.returncode != 0
    assert "routes[0].channels" in result.stderr


@pytest.mark.parametrize(
    ("route", "expected"),
    [
        (
            "{match: {severity: warning}, channels: [slack], slack_channel: '#quiet'}",
            "routes[0].slack_channel: per-route Slack channels are not supported",
        ),
        ("{match: {severity: warning}, chanels: [slack]}", "routes[0]: unknown keys ['chanels']"),
    ],
)
def test_check_config_refuses_route_keys_the_bridge_would_ignore(
    tmp_path: Path, route: str, expected: str
) -> None:
    config = tmp_path / "bridge.yml"
    config.write_text(f"routes:\n  - {route}\n")
    result = run("check-config", env={"BRIDGE_CONFIG": str(config)})
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr


def test_console_script_name_is_alert_bridge() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "alert-bridge"), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.startswith("alert-bridge ")
