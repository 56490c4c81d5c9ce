from __future__ import annotations

import pytest

from bridge.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("2h", 7200), ("30d", 2592000), ("1h30m", 5400), ("500ms", 0.5)],
)
def test_prometheus_style_durations_parse(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "-5m", "0s", "5x"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


def test_durations_format_for_humans() -> None:
    assert format_duration(45) == "45s"
    assert format_duration(3 * 3600 + 5 * 60) == "3h 5m"
    assert format_duration(86400 + 60) == "1d 1m"
