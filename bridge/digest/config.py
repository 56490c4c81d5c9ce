"""The `digest:` section of BRIDGE_CONFIG.

```yaml
digest:
  schedules: ["0 9 * * *", "0 17 * * 1-5"]   # cron, in BRIDGE_TIMEZONE; [] turns summaries off
  channel: "#ops"                             # optional; default BRIDGE_SLACK_CHANNEL
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.cron import crontab_trigger

DEFAULT_SCHEDULES = ("0 9 * * *",)
JOB_PREFIX = "digest:"
# job_runs.job is String(64) and holds "digest:<cron>".
MAX_CRON_CHARS = 64 - len(JOB_PREFIX)
KNOWN_KEYS = {"schedules", "channel"}


class DigestConfigError(ValueError):
    """A `digest:` setting that cannot work; the message names the key."""


def _normalise(cron: str) -> str:
    # "0  9 * * *" and "0 9 * * *" are one schedule and must claim the same job slots.
    return " ".join(cron.split())


def _validate_cron(index: int, value: object) -> str:
    where = f"digest.schedules[{index}]"
    if not isinstance(value, str) or not value.strip():
        raise DigestConfigError(f"{where}: must be a cron expression like '0 9 * * *'")
    cron = _normalise(value)
    if len(cron) > MAX_CRON_CHARS:
        raise DigestConfigError(f"{where}: longer than {MAX_CRON_CHARS} characters")
    try:
        # The time zone does not change whether an expression is valid.
        crontab_trigger(cron, "UTC")
    except (ValueError, TypeError) as exc:
        raise DigestConfigError(f"{where}: invalid cron expression {cron!r}: {exc}") from None
    return cron


def validate_digest(section: object) -> None:
    """Raise `DigestConfigError` unless `section` is a valid `digest:` mapping."""
    _section(section)


def _section(section: object) -> Mapping[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise DigestConfigError("digest: must be a mapping")
    unknown = set(section) - KNOWN_KEYS
    if unknown:
        raise DigestConfigError(f"digest: unknown keys {sorted(unknown)}")
    schedules = section.get("schedules", list(DEFAULT_SCHEDULES))
    if not isinstance(schedules, list):
        raise DigestConfigError("digest.schedules: must be a list of cron expressions")
    for i, cron in enumerate(schedules):
        _validate_cron(i, cron)
    channel = section.get("channel")
    if channel is not None and (not isinstance(channel, str) or not channel.strip()):
        raise DigestConfigError("digest.channel: must be a Slack channel name or id")
    return section


def digest_schedules(raw_config: Mapping[str, Any]) -> tuple[str, ...]:
    """The cron schedules of channel summaries (default daily 09:00), duplicates removed."""
    section = _section(raw_config.get("digest"))
    schedules = section.get("schedules", list(DEFAULT_SCHEDULES))
    return tuple(dict.fromkeys(_validate_cron(i, c) for i, c in enumerate(schedules)))


def digest_channel(raw_config: Mapping[str, Any]) -> str | None:
    """The Slack channel for summaries, when it differs from BRIDGE_SLACK_CHANNEL."""
    channel = _section(raw_config.get("digest")).get("channel")
    return channel.strip() if isinstance(channel, str) else None
