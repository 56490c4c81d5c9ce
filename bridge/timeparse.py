"""RFC 3339 timestamps, strictly (pure).

`datetime.fromisoformat` takes all of ISO 8601 since Python 3.11: week dates
(`2026-W49-1T10:00:00Z`), ordinal dates, basic format without dashes, a missing
offset. Alertmanager and Go's `time.RFC3339` take none of those, so a time the
bridge accepted could be one no peer understands. This is the one grammar
(RFC 3339 section 5.6, `T` or `t` between date and time, any fraction), shared by
whatever reads a time from outside.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})",
    re.ASCII,
)


class TimeFormatError(ValueError):
    """Not an RFC 3339 time, or not a representable one; the message is safe to show."""


def parse_rfc3339(text: str) -> datetime:
    """An aware UTC datetime; `TimeFormatError` for anything RFC 3339 does not allow."""
    found = _RFC3339.fullmatch(text)
    if not found:
        raise TimeFormatError(f"is not an RFC 3339 time like 2026-12-04T18:30:00Z: {text[:40]!r}")
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    try:
        tz = UTC if offset in ("Z", "z") else _offset(offset)
        # Go writes nanoseconds; datetime holds microseconds.
        micros = int((fraction or "0")[:6].ljust(6, "0"))
        parsed = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tz
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        # 2026-02-30, 24:00:00, a leap second, or year 1 shifted before year 1 by its offset.
        raise TimeFormatError(f"is not a valid time: {text[:40]!r}") from None


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError("offset out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
