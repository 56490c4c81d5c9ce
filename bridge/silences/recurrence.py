"""Occurrences of a recurring window, computed from the cron expression and time zone.

Computed from stored state each time (never from memory), so restarts and
daylight-saving changes give the same answer. APScheduler's CronTrigger does
the calendar arithmetic, DST included.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# A runaway expression (every minute) must not flood Alertmanager.
MAX_OCCURRENCES_PER_PLAN = 100


class RecurrenceError(ValueError):
    pass


def _trigger(cron: str, timezone: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"invalid cron expression {cron!r}: {exc}") from None


def validate_cron(cron: str, timezone: str) -> None:
    _trigger(cron, timezone)


def occurrences(
    cron: str,
    timezone: str,
    duration: timedelta,
    *,
    not_before: datetime,
    until: datetime,
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of every occurrence that starts in [not_before, until] or is running."""
    trigger = _trigger(cron, timezone)
    # Start far enough back to find an occurrence that is already running.
    cursor = not_before - duration
    previous: datetime | None = None
    for _ in range(MAX_OCCURRENCES_PER_PLAN):
        fire = trigger.get_next_fire_time(previous, cursor)
        if fire is None or fire > until:
            return
        start = fire.astimezone(ZoneInfo("UTC"))
        end = start + duration
        if end > not_before:
            yield start, end
        previous = fire
        cursor = fire + timedelta(seconds=1)
