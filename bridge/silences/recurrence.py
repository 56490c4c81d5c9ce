"""Occurrences of a recurring window, computed from the cron expression and time zone.

Computed from stored state each time (never from memory), so restarts and
daylight-saving changes give the same answer. APScheduler's CronTrigger does
the calendar arithmetic, DST included.

Every search has an end date: without one, a cron that never fires (`0 0 30 2 *`)
makes CronTrigger walk every year up to 9999, about 130 ms per planning pass inside
a write transaction. With one it gives up at the end of the planning horizon.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from bridge.cron import crontab_trigger
from bridge.durations import format_duration

# A runaway expression (every minute) must not flood Alertmanager.
MAX_OCCURRENCES_PER_PLAN = 100
# A cron must fire within this long of its window's creation: long enough for a yearly
# window and for Feb 29 (leap years), short enough to keep the search cheap.
FIRST_FIRE_HORIZON = timedelta(days=5 * 366)
# Consecutive occurrences compared for overlap when a window is created: a year of
# hourly ones is 8,760; these cover every pattern of minutes, hours and weekdays.
OVERLAP_CHECK_FIRES = 1000


class RecurrenceError(ValueError):
    """`about`: the part of the recurrence at fault, "cron" or "duration"."""

    def __init__(self, message: str, about: str = "cron") -> None:
        super().__init__(message)
        self.about = about


def _trigger(cron: str, timezone: str, end: datetime | None = None) -> CronTrigger:
    try:
        return crontab_trigger(cron, timezone, end_date=end)
    except (ValueError, TypeError) as exc:
        raise RecurrenceError(f"invalid cron expression {cron!r}: {exc}") from None


def _fires(trigger: CronTrigger, after: datetime, limit: int) -> Iterator[datetime]:
    """Fire times (UTC) from `after`, at most `limit`, ending at the trigger's end date."""
    cursor, last, last_wall = after, None, None
    for _ in range(limit):
        fire = trigger.get_next_fire_time(None, cursor)
        if fire is None:
            return
        wall, fire = fire.replace(tzinfo=None), fire.astimezone(ZoneInfo("UTC"))
        cursor = fire + timedelta(seconds=1)
        if last is not None and fire <= last:
            cursor = last + timedelta(minutes=1)  # CronTrigger answered the same time again
            continue
        if wall == last_wall:
            continue  # 02:00 again after a DST fall-back: one occurrence per wall time
        yield fire
        last, last_wall = fire, wall


def validate_cron(cron: str, timezone: str) -> None:
    _trigger(cron, timezone)


def check_recurrence(cron: str, timezone: str, duration: timedelta, now: datetime) -> None:
    """Refuse a cron that never fires and occurrences that would overlap.

    Overlapping occurrences (`* * * * *` lasting a day) would each hold their own
    Alertmanager silence: a hundred alive at once for one window.
    """
    trigger = _trigger(cron, timezone, end=now + FIRST_FIRE_HORIZON)
    fires = list(_fires(trigger, now, OVERLAP_CHECK_FIRES))
    if not fires:
        raise RecurrenceError(
            f"{cron!r} never fires in the next {FIRST_FIRE_HORIZON.days // 366} years"
        )
    gaps = [later - earlier for earlier, later in itertools.pairwise(fires)]
    if gaps and duration > min(gaps):
        raise RecurrenceError(
            f"each occurrence lasts {format_duration(duration.total_seconds())} but {cron!r} "
            f"fires again after {format_duration(min(gaps).total_seconds())}: occurrences "
            "would overlap; shorten the duration or fire less often",
            about="duration",
        )


def occurrences(
    cron: str,
    timezone: str,
    duration: timedelta,
    *,
    not_before: datetime,
    until: datetime,
) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) of every occurrence that starts in [not_before, until] or is running."""
    trigger = _trigger(cron, timezone, end=until)
    # Start far enough back to find an occurrence that is already running.
    for start in _fires(trigger, not_before - duration, MAX_OCCURRENCES_PER_PLAN):
        end = start + duration
        if end > not_before:
            yield start, end
