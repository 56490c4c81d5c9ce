"""Flap control (pure): when an alert changes state too often, pause its notifications.

An alert that changes state more than `max_changes` times within `window` is
flapping: one notice, then no trigger/resolve churn (a PagerDuty incident
stays open) until it has been stable for `stable`, then one message saying
what happened and one trigger or resolve if on-call's view is out of date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class FlapLimits:
    max_changes: int = 4
    window: timedelta = timedelta(minutes=30)
    stable: timedelta = timedelta(minutes=15)


def starts_flapping(changes_in_window: int, limits: FlapLimits) -> bool:
    """`changes_in_window` counts the change being decided now."""
    return changes_in_window > limits.max_changes


def catch_up_action(current_status: str, delivered_status: str | None) -> str | None:
    """After flapping settles: the action that brings on-call's view up to date."""
    if current_status == "firing" and delivered_status != "firing":
        return "trigger"
    if current_status == "resolved" and delivered_status == "firing":
        return "resolve"
    return None
