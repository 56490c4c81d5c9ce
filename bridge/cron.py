"""Cron expressions as people write them, for APScheduler.

APScheduler 3 numbers the days of the week from Monday (0) to Sunday (6); crontab, and
everyone writing `0 17 * * 1-5`, from Sunday (0 or 7) to Saturday (6). Given to
APScheduler as it is, that expression fires Tuesday to Saturday. So the day-of-week field
is read here the crontab way and handed over as day names, which both agree on. A field
without digits (`*`, `SUN`, `mon-fri`) means the same to both and passes unchanged.

One difference stays, documented: when both day of month and day of week are restricted,
crontab fires on either, APScheduler only on days matching both.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

# Crontab's numbering: 0 and 7 are Sunday.
DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NUMBER_OF_NAME = {name: number for number, name in enumerate(DAY_NAMES)}
LAST_DAY = 7  # Sunday again, so that `5-7` is Friday to Sunday


def crontab_trigger(
    expression: str, timezone: str | ZoneInfo, end_date: datetime | None = None
) -> CronTrigger:
    """A CronTrigger for a five-field crontab expression; ValueError if it is not one."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"need 5 fields, got {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    zone = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=weekdays_by_name(day_of_week),
        timezone=zone,
        end_date=end_date,
    )


def weekdays_by_name(field: str) -> str:
    """A crontab day-of-week field with numbers, as the day names it means."""
    if not any(ch.isdigit() for ch in field):
        return field
    days: set[int] = set()
    for item in field.lower().split(","):
        days |= _days_of(item)
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def _days_of(item: str) -> set[int]:
    span, slash, step_text = item.partition("/")
    step = _number(step_text, "day-of-week step") if slash else 1
    if step < 1:
        raise ValueError(f"day-of-week step must be at least 1: {item!r}")
    if span == "*":
        first, last = 0, LAST_DAY - 1
    elif "-" in span:
        start, _, end = span.partition("-")
        first, last = _day(start), _day(end, range_end=True)
        if first > last:
            raise ValueError(f"day-of-week range runs backwards: {item!r}")
    else:
        first = _day(span)
        # `5/2` is crontab for 5 to the end of the week, every second day.
        last = LAST_DAY - 1 if slash else first
    return {d % LAST_DAY for d in range(first, last + 1, step)}


def _day(text: str, range_end: bool = False) -> int:
    if text in _NUMBER_OF_NAME:
        number = _NUMBER_OF_NAME[text]
        # `fri-sun` ends on Sunday at the end of the week, not before Friday.
        return LAST_DAY if range_end and number == 0 else number
    number = _number(text, "day of week")
    if not 0 <= number <= LAST_DAY:
        raise ValueError(f"day of week {text!r} is not 0-7 (0 and 7: Sunday) or a day name")
    return number


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{what} {text!r} is not a number")
    return int(text)


__all__ = ["DAY_NAMES", "crontab_trigger", "weekdays_by_name"]
