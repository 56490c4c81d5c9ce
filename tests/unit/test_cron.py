"""Crontab expressions handed to APScheduler (bridge/cron.py): weekdays numbered as crontab
numbers them, everything else as APScheduler reads it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bridge.cron import crontab_trigger, weekdays_by_name


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("*", "*"),
        ("SUN", "SUN"),
        ("mon-fri", "mon-fri"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("5-7", "sun,fri,sat"),
        ("0,6", "sun,sat"),
        ("*/2", "sun,tue,thu,sat"),
        ("1-5/2", "mon,wed,fri"),
        ("5/1", "fri,sat"),
        ("mon-3", "mon,tue,wed"),
        ("fri-7", "sun,fri,sat"),
        ("1,1,1", "mon"),
    ],
)
def test_numbered_weekdays_become_the_day_names_crontab_means(field: str, names: str) -> None:
    assert weekdays_by_name(field) == names


@pytest.mark.parametrize("field", ["8", "5-1", "*/0", "1-x", "-1", "1/", "mon-8"])
def test_a_weekday_crontab_would_refuse_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="day"):
        weekdays_by_name(field)


def _next_days(expression: str, count: int) -> list[str]:
    trigger = crontab_trigger(expression, "UTC")
    cursor, days = datetime(2026, 12, 6, tzinfo=UTC), []  # a Sunday
    previous = None
    for _ in range(count):
        fire = trigger.get_next_fire_time(previous, cursor)
        assert fire is not None
        days.append(fire.strftime("%a %d"))
        previous = cursor = fire
    return days


def test_weekdays_1_to_5_fire_monday_to_friday() -> None:
    # APScheduler's from_crontab fires this Tuesday to Saturday.
    assert _next_days("0 17 * * 1-5", 6) == [
        "Mon 07",
        "Tue 08",
        "Wed 09",
        "Thu 10",
        "Fri 11",
        "Mon 14",
    ]


def test_the_other_fields_are_apschedulers_and_a_wrong_count_is_refused() -> None:
    assert _next_days("30 9 1 * *", 2) == ["Fri 01", "Mon 01"]  # 1 January, 1 February 2027
    with pytest.raises(ValueError, match="need 5 fields, got 4"):
        crontab_trigger("0 9 * *", "UTC")
    with pytest.raises(ValueError):
        crontab_trigger("0 25 * * *", "UTC")
