"""Durations written the way Prometheus writes them: `90s`, `5m`, `1h30m`, `30d`."""

from __future__ import annotations

import re

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


class DurationError(ValueError):
    pass


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus-style duration; raises `DurationError` when malformed."""
    value = text.strip()
    if not value:
        raise DurationError("empty duration")
    pos, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(value):
        raise DurationError(f"{text!r} is not a duration like 90s, 5m, 2h or 30d")
    if total <= 0:
        raise DurationError(f"{text!r} must be longer than zero")
    return total


def format_duration(seconds: float) -> str:
    """Short human form: `2h 5m`, `45s`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    if not days and not hours and secs:
        parts.append(f"{secs}s")
    return " ".join(p for p in parts if p)
