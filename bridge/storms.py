"""Storms (pure): a storming alert name is folded into one storm incident, or queued.

PagerDuty is paced (about 100 events a minute per routing key), so a storm of
thousands of alerts keeps pages queued for over an hour. Without lanes a page
for an unrelated problem, or the bridge's own AlertingPipelineDown, waits
behind all of them. An alert name that changed state `max_changes` times
within `window` (BRIDGE_STORM_MAX_CHANGES, BRIDGE_STORM_WINDOW) is storming:
its further notifications take the storm lane, which is claimed only when no
other notification is due. The first changes of every name, and every name
that is not storming, stay in the normal lane, so on-call hears of each
distinct problem first, then the rest of the storm in order.

Folding (BRIDGE_STORM_FOLD=on, the default) goes further: the further firings of
a storming name are not paged one by one but folded into one storm incident per
name (store/storm_rows.py), one PagerDuty incident and one Slack message that
are refreshed as the storm grows, at most every `PAGERDUTY_REFRESH` and
`SLACK_REFRESH`. The storm ends when no alert of the name has fired for the
window and every folded alert has resolved. Alerts paged before the storm began
keep their own incidents; other names, and the bridge's own
AlertingPipelineDown, are never folded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

NORMAL = 0
STORM = 1
LANE_NAMES = {NORMAL: "normal", STORM: "storm"}
LANES = tuple(LANE_NAMES)
# The bridge's own dead-man's switch (bridge/watchdog.py's PIPELINE_DOWN): when it
# fires, nothing else can arrive, so it always pages on its own.
NEVER_FOLDED = frozenset({"AlertingPipelineDown"})
# A storm incident is refreshed (a new trigger on its dedup_key) at most this often,
# inside the PagerDuty pacing budget. Counted from the last claim plus the longest a
# PagerDuty request may take (its timeout, bridge/notify/pagerduty.py), so two of the
# storm's events never land within one minute.
PAGERDUTY_REFRESH = timedelta(minutes=1) + timedelta(seconds=10)
# The storm's Slack message is updated in place at most this often (Slack allows
# about one message a second per channel; a storm must leave room for the rest).
SLACK_REFRESH = timedelta(seconds=10)


@dataclass(frozen=True)
class StormLimits:
    max_changes: int = 10  # 0: no storm lane, no folding
    window: timedelta = timedelta(minutes=10)
    fold: bool = True  # False: a storm's pages queue in the storm lane instead


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


def folds(name: str, lane: int, storm_open: bool, limits: StormLimits) -> bool:
    """Is this new firing folded into its name's storm instead of paged on its own?

    `lane`: the firing's lane (above); `storm_open`: its name has an open storm, which
    keeps folding the name's firings until it ends, even once the name's changes in the
    window drop below the threshold.
    """
    if not limits.fold or limits.max_changes <= 0 or name in NEVER_FOLDED:
        return False
    return storm_open or lane == STORM


def refresh_due(last_claimed: datetime | None, now: datetime, interval: timedelta) -> datetime:
    """When a storm's next refresh may go out: `interval` after the last one was claimed."""
    if last_claimed is None:
        return now
    return max(now, last_claimed + interval)


def storm_over(last_fired: datetime, still_firing: int, now: datetime, window: timedelta) -> bool:
    """No firing of the name for the window, and nothing folded still firing."""
    return still_firing == 0 and now - last_fired >= window
