"""Numbers as on-call reads them: `87 °C`, `+1.7 °C/min`, `121.6 GiB`, `95 %`.

Pure functions. Each unit name is what `BRIDGE_CONFIG` may give a query (`unit: celsius`),
so the set is closed and validated at start.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime

from bridge.durations import format_duration
from bridge.enrich.clocks import describe_clock_events

_IEC = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def _number(value: float, decimals: int = 0) -> str:
    """Thousands separated, `-0` never shown."""
    text = f"{value:,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def _smart(value: float) -> str:
    """Whole numbers plainly; small ones with one decimal (`0.4`, `12`, `1,350`)."""
    if abs(value) >= 10 or value == int(value):
        return _number(value)
    return _number(value, 1)


def signed(value: float, decimals: int = 1) -> str:
    text = _number(value, decimals)
    return text if text.startswith("-") or float(text.replace(",", "")) == 0 else f"+{text}"


def iec_bytes(value: float) -> str:
    size, unit = abs(value), 0
    while size >= 1024 and unit < len(_IEC) - 1:
        size /= 1024
        unit += 1
    sign = "-" if value < 0 else ""
    if unit == 0:
        return f"{sign}{size:.0f} B"
    return f"{sign}{size:.1f} {_IEC[unit]}"


def percent(value: float) -> str:
    """0-100 → `95 %`; one decimal below 10 so `0.4 %` is not shown as `0 %`."""
    return f"{_smart(value)} %"


def celsius(value: float) -> str:
    return f"{_number(value)} °C"


def celsius_per_minute(value: float) -> str:
    return f"{signed(value)} °C/min"


def watts(value: float) -> str:
    return f"{_number(value)} W"


def megahertz(value: float) -> str:
    return f"{_number(value)} MHz"


def bytes_per_second(value: float) -> str:
    # Per minute: memory growth per second is a fraction nobody reads well at 3 a.m.
    per_minute = value * 60
    text = iec_bytes(per_minute)
    return f"+{text}/min" if per_minute > 0 else f"{text}/min"


def count(value: float) -> str:
    # increase() extrapolates (2 kills read 2.008): counts are shown whole.
    return _number(round(value))


def per_second(value: float) -> str:
    return f"{_smart(value)}/s"


def seconds(value: float) -> str:
    return format_duration(max(0.0, value))


def timestamp(value: float) -> str:
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def up(value: float) -> str:
    return "up" if value >= 1 else "down"


def clock_event_reasons(value: float) -> str:
    return describe_clock_events(int(value))


def plain(value: float) -> str:
    return _smart(value) if math.isfinite(value) else str(value)


FORMATTERS: dict[str, Callable[[float], str]] = {
    "celsius": celsius,
    "celsius_per_minute": celsius_per_minute,
    "watts": watts,
    "megahertz": megahertz,
    "bytes": iec_bytes,
    "bytes_per_second": bytes_per_second,
    "percent": percent,
    "ratio": lambda v: percent(v * 100),
    "count": count,
    "per_second": per_second,
    "seconds": seconds,
    "timestamp": timestamp,
    "up": up,
    "clock_event_reasons": clock_event_reasons,
    "none": plain,
}
UNITS = tuple(FORMATTERS)


def format_value(value: float, unit: str) -> str:
    """`value` in `unit`; NaN and ±Inf (PromQL answers them) are shown as they are."""
    if not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    return FORMATTERS.get(unit, plain)(value)
