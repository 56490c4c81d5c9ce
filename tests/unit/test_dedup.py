"""Every transition of the pure dedup decision, with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.alerts import Alert
from bridge.dedup import Action, PreviousState, decide

T0 = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
LATER = T0 + timedelta(minutes=30)
EARLIER = T0 - timedelta(minutes=30)


def incoming(status: str, starts_at: datetime = T0) -> Alert:
    return Alert(
        status=status,
        labels={"alertname": "GPUTemperatureCritical", "severity": "critical"},
        annotations={},
        starts_at=starts_at,
        ends_at=None,
        generator_url="",
        fingerprint="fp",
    )


def state(status: str, starts_at: datetime = T0, notified: bool = True) -> PreviousState:
    return PreviousState(status=status, starts_at=starts_at, notified=notified)


CASES = [
    # (previous, incoming, action, reason)
    (None, incoming("firing"), Action.NOTIFY_FIRING, "new_firing"),
    (None, incoming("resolved"), Action.RECORD, "resolved_never_seen_firing"),
    (state("firing"), incoming("firing"), Action.IGNORE, "repeat_firing"),
    (state("firing"), incoming("resolved"), Action.NOTIFY_RESOLVED, "resolved"),
    (state("firing", notified=False), incoming("resolved"), Action.RECORD, "resolved_not_notified"),
    (state("resolved"), incoming("resolved"), Action.IGNORE, "repeat_resolved"),
    (state("resolved"), incoming("firing"), Action.IGNORE, "stale_firing_after_resolve"),
    (state("resolved"), incoming("firing", LATER), Action.NOTIFY_FIRING, "refire"),
    (state("firing"), incoming("firing", LATER), Action.NOTIFY_FIRING, "refire"),
    (state("resolved"), incoming("resolved", LATER), Action.RECORD, "resolved_never_seen_firing"),
    (state("firing"), incoming("firing", EARLIER), Action.IGNORE, "stale_episode"),
    (state("resolved"), incoming("resolved", EARLIER), Action.IGNORE, "stale_episode"),
]


@pytest.mark.parametrize(("previous", "alert", "action", "reason"), CASES)
def test_decision_for_each_transition(
    previous: PreviousState | None, alert: Alert, action: Action, reason: str
) -> None:
    decision = decide(previous, alert)
    assert (decision.action, decision.reason) == (action, reason)


def test_only_transitions_notify() -> None:
    notifying = {c[3] for c in CASES if decide(c[0], c[1]).notifies}
    assert notifying == {"new_firing", "resolved", "refire"}


def test_ignored_decisions_change_no_state() -> None:
    assert not decide(state("firing"), incoming("firing")).changes_state
    assert decide(None, incoming("resolved")).changes_state
