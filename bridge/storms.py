"""Storm lanes (pure): a storm's notifications queue behind everyone else's.

PagerDuty is paced (about 100 events a minute per routing key), so a storm of
thousands of alerts keeps pages queued for over an hour. Without lanes a page
for an unrelated problem, or the bridge's own AlertingPipelineDown, waits
behind all of them. An alert name that changed state `max_changes` times
within `window` (BRIDGE_STORM_MAX_CHANGES, BRIDGE_STORM_WINDOW) is storming:
its further notifications take the storm lane, which is claimed only when no
other notification is due. The first changes of every name, and every name
that is not storming, stay in the normal lane, so on-call hears of each
distinct problem first, then the rest of the storm in order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

NORMAL = 0
STORM = 1
LANE_NAMES = {NORMAL: "normal", STORM: "storm"}
LANES = tuple(LANE_NAMES)


@dataclass(frozen=True)
class StormLimits:
    max_changes: int = 10  # 0: no storm lane
    window: timedelta = timedelta(minutes=10)


DEFAULT_LIMITS = StormLimits()


def lanes(names: Sequence[str], earlier: Mapping[str, int], limits: StormLimits) -> list[int]:
    """The lane of each change, in order.

    `names`: the alert name of each change of one payload, in the order they are
    recorded; `earlier`: changes of each name already recorded within the window.
    """
    if limits.max_changes <= 0:
        return [NORMAL] * len(names)
    seen = dict(earlier)
    result = []
    for name in names:
        rank = seen.get(name, 0)
        seen[name] = rank + 1
        result.append(STORM if rank >= limits.max_changes else NORMAL)
    return result
