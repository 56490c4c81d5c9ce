"""The dedup decision: does this incoming alert need a notification?

Like Alertmanager's `DedupStage.needsUpdate`, but per alert and durable. Only
transitions notify: a new firing, a resolve after a notified firing, and a
re-fire (a new `startsAt`). Repeats from `repeat_interval`, group re-sends and
HA peers sending the same thing change counters only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from bridge.alerts import Alert


class Action(enum.Enum):
    NOTIFY_FIRING = "notify_firing"
    NOTIFY_RESOLVED = "notify_resolved"
    RECORD = "record"  # state changes, nothing to say
    IGNORE = "ignore"  # duplicate or stale: counters only


@dataclass(frozen=True)
class PreviousState:
    """What the store knows of an alert's current episode."""

    status: str
    starts_at: datetime
    notified: bool  # the firing of this episode produced notifications


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str

    @property
    def notifies(self) -> bool:
        return self.action in (Action.NOTIFY_FIRING, Action.NOTIFY_RESOLVED)

    @property
    def changes_state(self) -> bool:
        return self.action is not Action.IGNORE


def decide(previous: PreviousState | None, alert: Alert) -> Decision:
    """Pure decision for one alert against the stored state of its fingerprint."""
    if previous is None:
        if alert.firing:
            return Decision(Action.NOTIFY_FIRING, "new_firing")
        return Decision(Action.RECORD, "resolved_never_seen_firing")

    if alert.starts_at < previous.starts_at:
        # A late HA peer or a retried old send: an episode we already moved past.
        return Decision(Action.IGNORE, "stale_episode")

    if alert.starts_at > previous.starts_at:
        if alert.firing:
            return Decision(Action.NOTIFY_FIRING, "refire")
        return Decision(Action.RECORD, "resolved_never_seen_firing")

    # Same episode.
    if alert.firing:
        if previous.status == "firing":
            return Decision(Action.IGNORE, "repeat_firing")
        # Firing again with the same startsAt after a resolve is an HA peer
        # that has not yet seen the resolve; Prometheus gives a real re-fire a
        # new startsAt.
        return Decision(Action.IGNORE, "stale_firing_after_resolve")
    if previous.status == "resolved":
        return Decision(Action.IGNORE, "repeat_resolved")
    if previous.notified:
        return Decision(Action.NOTIFY_RESOLVED, "resolved")
    return Decision(Action.RECORD, "resolved_not_notified")
