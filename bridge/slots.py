"""Scheduled slots: the most recent time a cron schedule was due (pure).

Jobs run for the latest due slot only, so a bridge that was down across two
slots runs once when it comes back, not once per missed slot.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.cron import crontab_trigger

# How far back to look for a due slot; longer than any sensible period.
LOOKBACK = timedelta(days=8)


def latest_slot(cron: str, timezone: str, now: datetime) -> datetime | None:
    """The last fire time of `cron` at or before `now`, in UTC."""
    trigger = crontab_trigger(cron, timezone)
    previous: datetime | None = None
    cursor = now - LOOKBACK
    found: datetime | None = None
    for _ in range(100_000):
        fire = trigger.get_next_fire_time(previous, cursor)
        if fire is None or fire > now:
            break
        found = fire
        previous = fire
        cursor = fire + timedelta(seconds=1)
    return found.astimezone(ZoneInfo("UTC")) if found else None


def previous_slot(cron: str, timezone: str, slot: datetime) -> datetime | None:
    """The fire time before `slot` (the start of the period `slot` closes)."""
    return latest_slot(cron, timezone, slot - timedelta(seconds=1))
