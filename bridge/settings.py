"""Settings from the environment, validated once at start.

Every secret may instead come from `<NAME>_FILE` (Docker secrets). A problem
raises `SettingsError` whose message is one line naming the variable, so that
`alert-bridge serve` can stop with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.client_address import Network, parse_trusted_proxies
from bridge.durations import DurationError, parse_duration

# PagerDuty Events API v2 integration ("routing") keys are 32 characters.
# https://developer.pagerduty.com/docs/events-api-v2/trigger-events/
PAGERDUTY_ROUTING_KEY_CHARS = 32
# The example keys this repository's documentation shows (secrets/pagerduty-routing-key.example,
# secrets/README.md). They have the right length, so PagerDuty would only reject them at the
# first page: every page would become a dead letter. Compared case-insensitively.
PLACEHOLDER_ROUTING_KEYS = frozenset(
    {
        "0123456789abcdef0123456789abcdef",
        "your32characterpagerdutykey00000",
    }
)
# What every routing-key error ends with: how to run without PagerDuty on purpose.
DRY_RUN_HINT = (
    "to run PagerDuty in dry-run, leave BRIDGE_PAGERDUTY_ROUTING_KEY and "
    "BRIDGE_PAGERDUTY_ROUTING_KEY_FILE unset (in docker compose: "
    "BRIDGE_PAGERDUTY_ROUTING_KEY_FILE= in .env)"
)

# BRIDGE_API_TOKEN authorises writes and signs people in to the console, so it must not be
# guessable: at least 128 bits written as hex (`openssl rand -hex 16`; the docs show -hex 32),
# and not a short pattern repeated to length ("changeme" five times).
MIN_API_TOKEN_CHARS = 32
MIN_API_TOKEN_DISTINCT_CHARS = 8
# The placeholder in secrets/bridge-api-token.example: long, but public.
PLACEHOLDER_API_TOKENS = frozenset({"replace-with-output-of-openssl-rand-hex-32"})
API_TOKEN_ADVICE = "make one with `openssl rand -hex 32`"  # noqa: S105 (advice, not a secret)

SECRET_NAMES = (
    "BRIDGE_WEBHOOK_TOKEN",
    "BRIDGE_API_TOKEN",
    "BRIDGE_PAGERDUTY_ROUTING_KEY",
    "BRIDGE_SLACK_BOT_TOKEN",
    "BRIDGE_SLACK_WEBHOOK_URL",
    "BRIDGE_DATABASE_URL",
    "BRIDGE_SLACK_SIGNING_SECRET",
    "BRIDGE_PAGERDUTY_WEBHOOK_SECRET",
)


# The receivers of the shipped alertmanager/alertmanager.yml that post to the bridge.
DEFAULT_RECEIVERS = ("alert-bridge", "alert-bridge-watchdog")


class SettingsError(ValueError):
    """A setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:9095"
    database_url: str = ""
    state_dir: Path = Path("var")
    webhook_token: str | None = None
    api_token: str | None = None
    prometheus_url: str = "http://localhost:9090"
    alertmanager_urls: tuple[str, ...] = ("http://localhost:9093",)
    # Where people open Alertmanager (silence links); the API URL above may be a
    # container name that only the bridge can resolve.
    alertmanager_external_url: str = "http://localhost:9093"
    grafana_url: str = "http://localhost:3001"
    public_url: str | None = None
    pagerduty_routing_key: str | None = None
    pagerduty_events_url: str = "https://events.pagerduty.com"
    slack_bot_token: str | None = None
    slack_channel: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_webhook_url: str | None = None
    ca_bundle: str | None = None
    config_path: str | None = None
    timezone: str = "UTC"
    watchdog_timeout_seconds: float = 300.0
    retention_seconds: float = 30 * 86400.0
    max_window_seconds: float = 7 * 86400.0
    # A critical alert still firing this long gets a reminder in its Slack thread.
    reminder_after_seconds: float = 4 * 3600.0
    # Flap control: more than `flap_max_changes` state changes within
    # `flap_window_seconds` pauses notifications until `flap_stable_seconds` of calm.
    flap_max_changes: int = 4
    flap_window_seconds: float = 30 * 60.0
    flap_stable_seconds: float = 15 * 60.0
    # Storm lane: an alert name with `storm_max_changes` state changes within
    # `storm_window_seconds` queues its further notifications behind everyone
    # else's (bridge/storms.py); 0 turns the lane off.
    storm_max_changes: int = 10
    storm_window_seconds: float = 10 * 60.0
    # Storm folding: a storming name's further firings become one storm incident
    # (False: they queue in the storm lane, one page each).
    storm_fold: bool = True
    # PagerDuty events per minute across all replicas (the Events API allows ~120
    # per routing key); 0 turns pacing off.
    pagerduty_events_per_minute: int = 100
    # Without any Watchdog since start-up, wait this long on top of the timeout.
    watchdog_grace_seconds: float = 120.0
    max_body_bytes: int = 5 * 1024 * 1024
    max_alerts_per_payload: int = 1000
    runbook_base_url: str = ""
    # Total time Prometheus enrichment may add to one notification (queries run in parallel).
    enrich_budget_seconds: float = 2.0
    # Retry policy of the delivery worker (capped exponential backoff).
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    log_level: str = "INFO"
    # The web console (bridge/console) asks for the API token before showing anything.
    console_read_auth: bool = False
    # Interactivity (bridge/interact): unset secrets switch the endpoints off (404).
    slack_signing_secret: str | None = None
    # Slack user ids allowed to act from buttons; empty: everyone in the workspace.
    slack_allowed_users: tuple[str, ...] = ()
    pagerduty_webhook_secret: str | None = None
    # Reconciliation with Alertmanager's /api/v2/alerts (bridge/reconcile): every
    # `reconcile_interval_seconds` (0: off); an Alertmanager up for less than
    # `reconcile_grace_seconds` proves no resolve; only alerts routed to
    # `alertmanager_receivers` (the bridge's receivers in alertmanager.yml) are the bridge's.
    reconcile_interval_seconds: float = 60.0
    reconcile_grace_seconds: float = 300.0
    alertmanager_receivers: tuple[str, ...] = DEFAULT_RECEIVERS
    # Reverse proxies whose X-Forwarded-For names the client (bridge/client_address.py);
    # empty: the connection's peer is the client.
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def pagerduty_enabled(self) -> bool:
        return bool(self.pagerduty_routing_key)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_channel) or bool(self.slack_webhook_url)

    def link_warnings(self) -> list[str]:
        """Link bases people outside the bridge's network probably cannot open: a host name
        without a dot that is not localhost is a container or service name (`alertmanager`,
        `grafana`), resolvable only beside the bridge."""
        bases = {
            "BRIDGE_ALERTMANAGER_EXTERNAL_URL": self.alertmanager_external_url,
            "BRIDGE_GRAFANA_URL": self.grafana_url,
        }
        warnings = []
        for name, url in bases.items():
            host = urlsplit(url).hostname or ""
            if "." not in host and ":" not in host and host != "localhost":
                warnings.append(
                    f"{name}: links point at {url}, a name only the bridge's network resolves; "
                    "set the address people open"
                )
        return warnings

    def redacted(self) -> dict[str, object]:
        """What is safe to print: secrets reduced to set / unset."""
        out: dict[str, object] = {}
        for key, value in self.__dict__.items():
            if key in _SECRET_FIELDS:
                out[key] = "<set>" if value else "<unset>"
            else:
                out[key] = str(value) if isinstance(value, Path) else value
        out["database_url"] = redact_url(self.database_url)
        return out


_SECRET_FIELDS = {
    "webhook_token",
    "api_token",
    "pagerduty_routing_key",
    "slack_bot_token",
    "slack_webhook_url",
    "slack_signing_secret",
    "pagerduty_webhook_secret",
}


def redact_url(url: str) -> str:
    """Hide a password in a database URL (`postgresql://u:***@host/db`)."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def _read(env: Mapping[str, str], name: str) -> str | None:
    """`NAME` or the contents of the file named by `NAME_FILE`."""
    value = env.get(name)
    file_name = env.get(f"{name}_FILE")
    if value and file_name:
        raise SettingsError(f"{name}: set either {name} or {name}_FILE, not both")
    if file_name:
        try:
            value = Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SettingsError(
                f"{name}_FILE: cannot read {file_name}: {exc.strerror or exc}"
            ) from None
        if not value:
            raise SettingsError(f"{name}_FILE: {file_name} is empty")
    return value.strip() if value else None


def _url(name: str, value: str, *, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc or " " in value:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{name}: {value[:80]!r} is not a valid URL (expected {allowed}…)")
    return value.rstrip("/") if name != "BRIDGE_SLACK_API_URL" else value


def _duration(env: Mapping[str, str], name: str, default: str) -> float:
    raw = env.get(name) or default
    try:
        return parse_duration(raw)
    except DurationError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise SettingsError(f"{name}: {raw!r} is not a positive integer")
    return int(raw)


def _non_negative_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    if not raw.isdigit():
        raise SettingsError(f"{name}: {raw!r} is not a whole number (0 turns it off)")
    return int(raw)


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise SettingsError(f"{name}: {raw[:20]!r} is neither on nor off (true/false)")


_SLACK_ID = re.compile(r"^[UWS][A-Z0-9]{2,31}$")


def _allowed_users(env: Mapping[str, str], slack_token: str | None) -> tuple[str, ...]:
    """Slack user ids (U…, W…) and user group ids (S…); groups are read with the bot token."""
    entries = tuple(
        e.strip() for e in (env.get("BRIDGE_SLACK_ALLOWED_USERS") or "").split(",") if e.strip()
    )
    for entry in entries:
        if not _SLACK_ID.match(entry):
            raise SettingsError(
                f"BRIDGE_SLACK_ALLOWED_USERS: {entry[:40]!r} is not a Slack user id (U…, W…) "
                "or user group id (S…)"
            )
    if any(e.startswith("S") for e in entries) and not slack_token:
        raise SettingsError(
            "BRIDGE_SLACK_ALLOWED_USERS: user groups need BRIDGE_SLACK_BOT_TOKEN "
            "(scope usergroups:read) to read their members"
        )
    return entries


def _listen(value: str) -> str:
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"BRIDGE_LISTEN: {value!r} is not HOST:PORT")
    return value


def _routing_key(env: Mapping[str, str]) -> str | None:
    """The PagerDuty routing key, refused when it cannot page anyone (never echoed)."""
    key = _read(env, "BRIDGE_PAGERDUTY_ROUTING_KEY")
    if key is None:
        return None
    if len(key) != PAGERDUTY_ROUTING_KEY_CHARS:
        raise SettingsError(
            f"BRIDGE_PAGERDUTY_ROUTING_KEY: must be {PAGERDUTY_ROUTING_KEY_CHARS} characters, "
            f"got {len(key)}; {DRY_RUN_HINT}"
        )
    if key.lower() in PLACEHOLDER_ROUTING_KEYS:
        raise SettingsError(
            "BRIDGE_PAGERDUTY_ROUTING_KEY: this is the documentation's placeholder, not a "
            "PagerDuty integration key (pages would be rejected); put your service's Events API "
            f"v2 integration key in it, or {DRY_RUN_HINT}"
        )
    return key


def api_token_weakness(token: str) -> str | None:
    """Why `token` is too weak for BRIDGE_API_TOKEN, or None (never quotes the token)."""
    if token in PLACEHOLDER_API_TOKENS:
        return "this is the placeholder of secrets/bridge-api-token.example"
    if len(token) < MIN_API_TOKEN_CHARS:
        return f"{len(token)} characters, at least {MIN_API_TOKEN_CHARS} needed"
    distinct = len(set(token))
    if distinct < MIN_API_TOKEN_DISTINCT_CHARS:
        return (
            f"only {distinct} different characters, at least "
            f"{MIN_API_TOKEN_DISTINCT_CHARS} different characters needed"
        )
    return None


def _api_token(env: Mapping[str, str]) -> str | None:
    token = _read(env, "BRIDGE_API_TOKEN")
    weakness = api_token_weakness(token) if token is not None else None
    if weakness:
        raise SettingsError(f"BRIDGE_API_TOKEN: too weak: {weakness}; {API_TOKEN_ADVICE}")
    return token


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build and validate `Settings` from an environment mapping."""
    env = os.environ if env is None else env
    state_dir = Path(env.get("BRIDGE_STATE_DIR") or "var")
    database_url = _read(env, "BRIDGE_DATABASE_URL") or f"sqlite:///{state_dir / 'bridge.db'}"
    if "://" not in database_url:
        raise SettingsError("BRIDGE_DATABASE_URL: expected an SQLAlchemy URL like sqlite:///path")

    routing_key = _routing_key(env)
    slack_token = _read(env, "BRIDGE_SLACK_BOT_TOKEN")
    slack_channel = env.get("BRIDGE_SLACK_CHANNEL") or None
    if slack_token and not slack_channel:
        raise SettingsError("BRIDGE_SLACK_CHANNEL: required when BRIDGE_SLACK_BOT_TOKEN is set")
    slack_webhook = _read(env, "BRIDGE_SLACK_WEBHOOK_URL")
    if slack_webhook:
        _url("BRIDGE_SLACK_WEBHOOK_URL", slack_webhook, schemes=("https", "http"))

    ca_bundle = env.get("BRIDGE_CA_BUNDLE") or None
    if ca_bundle and not Path(ca_bundle).is_file():
        raise SettingsError(f"BRIDGE_CA_BUNDLE: {ca_bundle} is not a readable file")
    config_path = env.get("BRIDGE_CONFIG") or None
    if config_path and not Path(config_path).is_file():
        raise SettingsError(f"BRIDGE_CONFIG: {config_path} is not a readable file")
    timezone = env.get("BRIDGE_TIMEZONE") or "UTC"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"BRIDGE_TIMEZONE: unknown time zone {timezone!r}") from None

    api_token = _api_token(env)
    console_read_auth = _flag(env, "BRIDGE_CONSOLE_READ_AUTH", False)
    if console_read_auth and not api_token:
        raise SettingsError(
            "BRIDGE_CONSOLE_READ_AUTH: true needs BRIDGE_API_TOKEN (the token people sign in with)"
        )
    public_url = env.get("BRIDGE_PUBLIC_URL") or None
    am_urls = tuple(
        _url("BRIDGE_ALERTMANAGER_URL", u.strip())
        for u in (env.get("BRIDGE_ALERTMANAGER_URL") or "http://localhost:9093").split(",")
        if u.strip()
    )
    am_external = env.get("BRIDGE_ALERTMANAGER_EXTERNAL_URL") or am_urls[0]
    return Settings(
        listen=_listen(env.get("BRIDGE_LISTEN") or "127.0.0.1:9095"),
        database_url=database_url,
        state_dir=state_dir,
        webhook_token=_read(env, "BRIDGE_WEBHOOK_TOKEN"),
        api_token=api_token,
        prometheus_url=_url(
            "BRIDGE_PROMETHEUS_URL", env.get("BRIDGE_PROMETHEUS_URL") or "http://localhost:9090"
        ),
        alertmanager_urls=am_urls,
        alertmanager_external_url=_url("BRIDGE_ALERTMANAGER_EXTERNAL_URL", am_external),
        grafana_url=_url(
            "BRIDGE_GRAFANA_URL", env.get("BRIDGE_GRAFANA_URL") or "http://localhost:3001"
        ),
        public_url=_url("BRIDGE_PUBLIC_URL", public_url) if public_url else None,
        pagerduty_routing_key=routing_key,
        # The `pagerduty` client refuses anything but https.
        pagerduty_events_url=_url(
            "BRIDGE_PAGERDUTY_EVENTS_URL",
            env.get("BRIDGE_PAGERDUTY_EVENTS_URL") or "https://events.pagerduty.com",
            schemes=("https",),
        ),
        slack_bot_token=slack_token,
        slack_channel=slack_channel,
        slack_api_url=_url(
            "BRIDGE_SLACK_API_URL", env.get("BRIDGE_SLACK_API_URL") or "https://slack.com/api/"
        ),
        slack_webhook_url=slack_webhook,
        ca_bundle=ca_bundle,
        config_path=config_path,
        timezone=timezone,
        watchdog_timeout_seconds=_duration(env, "BRIDGE_WATCHDOG_TIMEOUT", "5m"),
        retention_seconds=_duration(env, "BRIDGE_RETENTION", "30d"),
        max_window_seconds=_duration(env, "BRIDGE_MAX_WINDOW_DURATION", "7d"),
        reminder_after_seconds=_duration(env, "BRIDGE_REMINDER_AFTER", "4h"),
        flap_max_changes=_positive_int(env, "BRIDGE_FLAP_MAX_CHANGES", 4),
        flap_window_seconds=_duration(env, "BRIDGE_FLAP_WINDOW", "30m"),
        flap_stable_seconds=_duration(env, "BRIDGE_FLAP_STABLE", "15m"),
        storm_max_changes=_non_negative_int(env, "BRIDGE_STORM_MAX_CHANGES", 10),
        storm_window_seconds=_duration(env, "BRIDGE_STORM_WINDOW", "10m"),
        storm_fold=_flag(env, "BRIDGE_STORM_FOLD", True),
        watchdog_grace_seconds=_duration(env, "BRIDGE_WATCHDOG_GRACE", "2m"),
        pagerduty_events_per_minute=_non_negative_int(
            env, "BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE", 100
        ),
        max_body_bytes=_positive_int(env, "BRIDGE_MAX_BODY_BYTES", 5 * 1024 * 1024),
        max_alerts_per_payload=_positive_int(env, "BRIDGE_MAX_ALERTS_PER_PAYLOAD", 1000),
        runbook_base_url=(env.get("BRIDGE_RUNBOOK_BASE_URL") or "").rstrip("/"),
        enrich_budget_seconds=_duration(env, "BRIDGE_ENRICH_BUDGET", "2s"),
        retry_base_seconds=_duration(env, "BRIDGE_RETRY_BASE", "2s"),
        retry_max_seconds=_duration(env, "BRIDGE_RETRY_MAX", "5m"),
        log_level=(env.get("BRIDGE_LOG_LEVEL") or "INFO").upper(),
        console_read_auth=console_read_auth,
        slack_signing_secret=_read(env, "BRIDGE_SLACK_SIGNING_SECRET"),
        slack_allowed_users=_allowed_users(env, slack_token),
        pagerduty_webhook_secret=_read(env, "BRIDGE_PAGERDUTY_WEBHOOK_SECRET"),
        reconcile_interval_seconds=_duration_or_off(env, "BRIDGE_RECONCILE_INTERVAL", "1m"),
        reconcile_grace_seconds=_duration(env, "BRIDGE_RECONCILE_GRACE", "5m"),
        alertmanager_receivers=_receivers(env),
        trusted_proxies=_trusted_proxies(env),
    )


def _duration_or_off(env: Mapping[str, str], name: str, default: str) -> float:
    """A duration, or `0` for off."""
    if (env.get(name) or "").strip() == "0":
        return 0.0
    return _duration(env, name, default)


def _trusted_proxies(env: Mapping[str, str]) -> tuple[Network, ...]:
    try:
        return parse_trusted_proxies(env.get("BRIDGE_TRUSTED_PROXIES") or "")
    except ValueError as exc:
        raise SettingsError(f"BRIDGE_TRUSTED_PROXIES: {exc}") from None


def _receivers(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("BRIDGE_ALERTMANAGER_RECEIVERS")
    if raw is None or not raw.strip():
        return DEFAULT_RECEIVERS
    return tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))
