"""RFC 3339 timestamps, strictly: what Alertmanager, PagerDuty and the bridge's API speak.

`datetime.fromisoformat` takes all of ISO 8601 (`2026-W49-1T10:00:00Z`, `20261205T10`,
times without seconds, a space for `T`, non-ASCII digits), so a time it accepts may be
one no other peer can read back. Pure; shared by the webhook, the PagerDuty webhook and
the maintenance windows.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# Go writes up to nanoseconds; Python keeps microseconds (the rest is dropped).
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


class TimeFormatError(ValueError):
    """Not an RFC 3339 timestamp, or one no `datetime` can hold in UTC."""


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 timestamp (`2026-12-05T10:00:00.123456789Z`) as an aware UTC datetime."""
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise TimeFormatError("is not an RFC 3339 timestamp (like 2026-12-05T10:00:00Z)")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "").ljust(6, "0")[:6])
    zone = "+00:00" if offset in ("Z", "z") else offset
    try:
        parsed = datetime.fromisoformat(
            f"{year}-{month}-{day}T{hour}:{minute}:{second}.{micros:06d}{zone}"
        )
        # e.g. year 1 with a positive offset: before year 1 in UTC.
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise TimeFormatError("is out of range for a timestamp") from None
