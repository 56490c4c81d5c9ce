"""Times as a person at the console reads them: local clock time and a relative age (pure)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

MINUTE = 60
HOUR = 3600
DAY = 86400


def local(when: datetime, tz: ZoneInfo, now: datetime) -> str:
    """`09:12` today, `Thu 3 Dec 09:12` otherwise (in the bridge's time zone)."""
    there = when.astimezone(tz)
    if there.date() == now.astimezone(tz).date():
        return there.strftime("%H:%M")
    return f"{there:%a} {there.day} {there:%b %H:%M}"


def age(when: datetime, now: datetime) -> str:
    """`just now`, `4 min ago`, `3 h ago`, `2 d ago`; `in 20 min` for the future."""
    seconds = (now - when).total_seconds()
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < MINUTE:
        return "just now" if not ahead else "in under a minute"
    if seconds < HOUR:
        amount = f"{int(seconds // MINUTE)} min"
    elif seconds < 2 * DAY:
        amount = f"{int(seconds // HOUR)} h"
        minutes = int(seconds % HOUR // MINUTE)
        if seconds < 10 * HOUR and minutes:
            amount += f" {minutes} min"
    else:
        amount = f"{int(seconds // DAY)} d"
    return f"in {amount}" if ahead else f"{amount} ago"


def stamp(when: datetime | None, tz: ZoneInfo, now: datetime) -> str:
    """`09:12 (4 min ago)`, or an em dash for no time."""
    if when is None:
        return "—"
    return f"{local(when, tz, now)} ({age(when, now)})"
