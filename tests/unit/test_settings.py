"""Settings: defaults, validation that names the variable, secrets from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.settings import SettingsError, load_settings

KEY = "a" * 32
# As `openssl rand -hex 16` makes them: 32 characters, the minimum.
API_TOKEN = "3f9c0d51a7e24b68c1d09e7a5b3f2c84"


def test_defaults_match_the_documented_contract() -> None:
    s = load_settings({})
    assert s.listen == "127.0.0.1:9095"
    assert s.database_url.startswith("sqlite:///")
    assert s.prometheus_url == "http://localhost:9090"
    assert s.alertmanager_urls == ("http://localhost:9093",)
    assert s.grafana_url == "http://localhost:3001"
    assert s.pagerduty_events_url == "https://events.pagerduty.com"
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.watchdog_timeout_seconds == 300
    assert s.retention_seconds == 30 * 86400
    assert (s.storm_max_changes, s.storm_window_seconds) == (10, 600)
    assert s.storm_fold is True
    assert not s.pagerduty_enabled and not s.slack_enabled


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"BRIDGE_PAGERDUTY_ROUTING_KEY": "short"}, "BRIDGE_PAGERDUTY_ROUTING_KEY"),
        ({"BRIDGE_PROMETHEUS_URL": "localhost:9090"}, "BRIDGE_PROMETHEUS_URL"),
        ({"BRIDGE_GRAFANA_URL": "ftp://grafana"}, "BRIDGE_GRAFANA_URL"),
        ({"BRIDGE_PAGERDUTY_EVENTS_URL": "http://insecure"}, "BRIDGE_PAGERDUTY_EVENTS_URL"),
        ({"BRIDGE_ALERTMANAGER_URL": "http://a:9093,nope"}, "BRIDGE_ALERTMANAGER_URL"),
        ({"BRIDGE_LISTEN": "9095"}, "BRIDGE_LISTEN"),
        ({"BRIDGE_WATCHDOG_TIMEOUT": "5 minutes"}, "BRIDGE_WATCHDOG_TIMEOUT"),
        ({"BRIDGE_TIMEZONE": "Mars/Olympus"}, "BRIDGE_TIMEZONE"),
        ({"BRIDGE_SLACK_BOT_TOKEN": "xoxb-1"}, "BRIDGE_SLACK_CHANNEL"),
        ({"BRIDGE_CA_BUNDLE": "/nonexistent.pem"}, "BRIDGE_CA_BUNDLE"),
        ({"BRIDGE_STORM_MAX_CHANGES": "-1"}, "BRIDGE_STORM_MAX_CHANGES"),
        ({"BRIDGE_STORM_MAX_CHANGES": "ten"}, "BRIDGE_STORM_MAX_CHANGES"),
        ({"BRIDGE_STORM_WINDOW": "10"}, "BRIDGE_STORM_WINDOW"),
        ({"BRIDGE_STORM_FOLD": "sometimes"}, "BRIDGE_STORM_FOLD"),
    ],
)
def test_bad_setting_error_is_one_line_naming_the_variable(
    env: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(env)
    message = str(err.value)
    assert message.startswith(variable + ":")
    assert "\n" not in message


def test_routing_key_error_does_not_echo_the_key() -> None:
    secret = "s3cr3t-but-31-characters-long!!"
    with pytest.raises(SettingsError) as err:
        load_settings({"BRIDGE_PAGERDUTY_ROUTING_KEY": secret})
    assert secret not in str(err.value)


def test_every_secret_can_come_from_a_file(tmp_path: Path) -> None:
    files = {}
    for name, value in {
        "BRIDGE_WEBHOOK_TOKEN": "hook-token",
        "BRIDGE_API_TOKEN": API_TOKEN,
        "BRIDGE_PAGERDUTY_ROUTING_KEY": KEY,
        "BRIDGE_SLACK_BOT_TOKEN": "xoxb-file",
        "BRIDGE_DATABASE_URL": "sqlite:///x.db",
    }.items():
        path = tmp_path / name
        path.write_text(value + "\n")
        files[f"{name}_FILE"] = str(path)
    s = load_settings({**files, "BRIDGE_SLACK_CHANNEL": "#alerts"})
    assert (s.webhook_token, s.api_token, s.pagerduty_routing_key) == (
        "hook-token",
        API_TOKEN,
        KEY,
    )
    assert s.slack_bot_token == "xoxb-file"
    assert s.database_url == "sqlite:///x.db"


def test_a_secret_set_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("x")
    with pytest.raises(SettingsError, match=r"^BRIDGE_API_TOKEN: set either"):
        load_settings({"BRIDGE_API_TOKEN": "y", "BRIDGE_API_TOKEN_FILE": str(path)})


def test_redacted_settings_hide_secrets_and_database_passwords() -> None:
    s = load_settings(
        {
            "BRIDGE_PAGERDUTY_ROUTING_KEY": KEY,
            "BRIDGE_DATABASE_URL": "postgresql+psycopg://bridge:pw123@db/bridge",
        }
    )
    shown = str(s.redacted())
    assert KEY not in shown and "pw123" not in shown


def test_storm_lane_settings_are_read_and_zero_turns_it_off() -> None:
    s = load_settings({"BRIDGE_STORM_MAX_CHANGES": "0", "BRIDGE_STORM_WINDOW": "30m"})
    assert (s.storm_max_changes, s.storm_window_seconds) == (0, 1800)


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, False), ("false", False), ("true", True), ("ON", True)]
)
def test_console_read_auth_is_off_unless_turned_on(raw: str | None, expected: bool) -> None:
    env = {"BRIDGE_API_TOKEN": API_TOKEN} | ({"BRIDGE_CONSOLE_READ_AUTH": raw} if raw else {})
    assert load_settings(env).console_read_auth is expected


def test_console_read_auth_needs_a_token_to_sign_in_with() -> None:
    with pytest.raises(SettingsError, match=r"^BRIDGE_CONSOLE_READ_AUTH: true needs"):
        load_settings({"BRIDGE_CONSOLE_READ_AUTH": "true"})
    with pytest.raises(SettingsError, match="neither on nor off"):
        load_settings({"BRIDGE_CONSOLE_READ_AUTH": "maybe", "BRIDGE_API_TOKEN": API_TOKEN})


def test_interactivity_secrets_come_from_files_are_redacted_and_users_are_a_list(
    tmp_path: Path,
) -> None:
    files = {}
    for name, value in {
        "BRIDGE_SLACK_SIGNING_SECRET": "slack-signing-secret-value",
        "BRIDGE_PAGERDUTY_WEBHOOK_SECRET": "pd-webhook-secret-value",
    }.items():
        (tmp_path / name).write_text(value + "\n")
        files[f"{name}_FILE"] = str(tmp_path / name)
    s = load_settings({**files, "BRIDGE_SLACK_ALLOWED_USERS": " U0ADA, U0BOB ,"})
    assert s.slack_signing_secret == "slack-signing-secret-value"
    assert s.pagerduty_webhook_secret == "pd-webhook-secret-value"
    assert s.slack_allowed_users == ("U0ADA", "U0BOB")
    shown = str(s.redacted())
    assert "secret-value" not in shown
    assert load_settings({}).slack_signing_secret is None
    assert load_settings({}).slack_allowed_users == ()


@pytest.mark.parametrize(
    ("value", "token", "error"),
    [
        ("jane", "xoxb-x", "is not a Slack user id"),
        ("U0ADA,<!here>", "xoxb-x", "is not a Slack user id"),
        ("S0ONCALL", None, "user groups need BRIDGE_SLACK_BOT_TOKEN"),
    ],
)
def test_allowed_users_must_be_slack_ids_and_groups_need_the_bot_token(
    value: str, token: str | None, error: str
) -> None:
    env = {"BRIDGE_SLACK_ALLOWED_USERS": value}
    if token:
        env.update(BRIDGE_SLACK_BOT_TOKEN=token, BRIDGE_SLACK_CHANNEL="#alerts")
    with pytest.raises(SettingsError, match=error):
        load_settings(env)


@pytest.mark.parametrize(("value", "fold"), [("on", True), ("off", False), ("OFF", False)])
def test_storm_folding_is_switched_on_or_off(value: str, fold: bool) -> None:
    assert load_settings({"BRIDGE_STORM_FOLD": value}).storm_fold is fold


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("a" * 31 + "b", "only 2 different characters"),
        ("short-token", "11 characters, at least 32 needed"),
        ("replace-with-output-of-openssl-rand-hex-32", "placeholder"),
    ],
)
def test_a_weak_api_token_is_refused_without_quoting_it(token: str, why: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings({"BRIDGE_API_TOKEN": token})
    assert str(err.value).startswith("BRIDGE_API_TOKEN: too weak: ") and why in str(err.value)
    assert token not in str(err.value)


def test_an_api_token_of_32_random_hex_characters_is_accepted() -> None:
    assert load_settings({"BRIDGE_API_TOKEN": API_TOKEN}).api_token == API_TOKEN
