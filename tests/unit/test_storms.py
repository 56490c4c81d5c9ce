"""Storm lanes: which changes of a payload queue behind everyone else's."""

from __future__ import annotations

import pytest

from bridge.storms import NORMAL, STORM, StormLimits, lanes

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
