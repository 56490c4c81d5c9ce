"""Storm lanes: which changes of a payload queue behind everyone else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.storm_view import most_severe
from bridge.storms import (
    NEVER_FOLDED,
    NORMAL,
    STORM,
    StormLimits,
    folds,
    lanes,
    refresh_due,
    storm_over,
)
from bridge.watchdog import PIPELINE_DOWN

LIMITS = StormLimits(max_changes=3)
N, S = NORMAL, STORM


@pytest.mark.parametrize(
    ("names", "earlier", "expected"),
    [
        ([], {}, []),
        (["GPUTemp"], {}, [N]),
        (["GPUTemp"] * 3, {}, [N, N, N]),
        (["GPUTemp"] * 5, {}, [N, N, N, S, S]),
        (["GPUTemp"], {"GPUTemp": 2}, [N]),
        (["GPUTemp"], {"GPUTemp": 3}, [S]),
        (["GPUTemp", "GPUTemp"], {"GPUTemp": 2}, [N, S]),
        # A storm of one name never pushes another name into the storm lane.
        (["GPUTemp", "NodeDown", "GPUTemp"], {"GPUTemp": 9}, [S, N, S]),
        (["A", "B", "A", "B", "A", "B", "A", "B"], {}, [N, N, N, N, N, N, S, S]),
    ],
)
def test_a_name_with_max_changes_in_the_window_takes_the_storm_lane(
    names: list[str], earlier: dict[str, int], expected: list[int]
) -> None:
    assert lanes(names, earlier, LIMITS) == expected


def test_the_counts_given_are_not_changed() -> None:
    earlier = {"GPUTemp": 1}
    lanes(["GPUTemp"] * 4, earlier, LIMITS)
    assert earlier == {"GPUTemp": 1}


def test_max_changes_zero_turns_the_storm_lane_off() -> None:
    assert lanes(["GPUTemp"] * 30, {"GPUTemp": 50}, StormLimits(max_changes=0)) == [N] * 30


@pytest.mark.parametrize(
    ("name", "lane", "storm_open", "limits", "expected"),
    [
        ("GPUTemp", N, False, LIMITS, False),  # below the threshold: paged on its own
        ("GPUTemp", S, False, LIMITS, True),  # storming: folded into a new storm
        ("GPUTemp", N, True, LIMITS, True),  # an open storm keeps folding its name
        ("GPUTemp", S, True, StormLimits(max_changes=3, fold=False), False),  # queue policy
        ("GPUTemp", S, True, StormLimits(max_changes=0), False),  # storms off altogether
        ("AlertingPipelineDown", S, True, LIMITS, False),  # the bridge's own: never folded
    ],
)
def test_a_firing_folds_only_while_its_name_storms_and_folding_is_on(
    name: str, lane: int, storm_open: bool, limits: StormLimits, expected: bool
) -> None:
    assert folds(name, lane, storm_open, limits) is expected


def test_the_never_folded_name_is_the_watchdogs_own_alert() -> None:
    assert PIPELINE_DOWN in NEVER_FOLDED


T = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("last_claimed", "expected"),
    [
        (None, T),  # never sent: at once
        (T - timedelta(seconds=30), T + timedelta(seconds=30)),  # a minute after the last
        (T - timedelta(minutes=5), T),  # long ago: at once
    ],
)
def test_a_refresh_waits_its_interval_after_the_last_one(
    last_claimed: datetime | None, expected: datetime
) -> None:
    assert refresh_due(last_claimed, T, timedelta(minutes=1)) == expected


@pytest.mark.parametrize(
    ("quiet_for", "still_firing", "expected"),
    [
        (timedelta(minutes=10), 0, True),
        (timedelta(minutes=9), 0, False),  # an alert of the name fired within the window
        (timedelta(hours=3), 1, False),  # a folded alert still fires: it keeps its page
    ],
)
def test_a_storm_is_over_when_quiet_for_the_window_and_nothing_folded_fires(
    quiet_for: timedelta, still_firing: int, expected: bool
) -> None:
    assert storm_over(T - quiet_for, still_firing, T, timedelta(minutes=10)) is expected


@pytest.mark.parametrize(
    ("severities", "expected"),
    [
        ([], None),
        (["warning"], "warning"),
        (["warning", "critical", "warning"], "critical"),
        (["info", "error"], "error"),
        (["page-me", "warning"], "warning"),  # unknown values rank after PagerDuty's
        (["b", "a"], "a"),  # and among themselves by name, whatever the order
    ],
)
def test_a_storm_is_as_severe_as_its_most_severe_alert(
    severities: list[str], expected: str | None
) -> None:
    assert most_severe(severities) == expected
