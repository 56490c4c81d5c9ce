"""What /alerts and the console say of reconciliation (bridge/reconcile/view.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.reconcile.view import alertmanager_view, health_line, muted_text

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
EPISODE = NOW - timedelta(hours=1)


def status(outcome: str | None, failures: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "last_round_at": NOW - timedelta(seconds=20) if outcome else None,
        "last_outcome": outcome,
        "last_detail": "http://am:9093: timed out after 5s",
        "last_success_at": extra.get("success"),
        "failures": failures,
    }


@pytest.mark.parametrize(
    ("row", "interval", "state", "words"),
    [
        (status("ok"), 0.0, "warn", "off (BRIDGE_RECONCILE_INTERVAL=0)"),
        (None, 60.0, "warn", "no round yet"),
        (status("ok"), 60.0, "ok", "in step with Alertmanager (last round 20s ago)"),
        (status("grace"), 60.0, "warn", "waiting for a restarted Alertmanager"),
        (status("failed", 1), 60.0, "warn", "1 round(s) in a row concluded nothing (failed)"),
        (
            status("failed", 3, success=NOW - timedelta(minutes=3)),
            60.0,
            "bad",
            "http://am:9093: timed out after 5s; last success 3m ago",
        ),
    ],
    ids=["off", "none", "ok", "grace", "one-failure", "three-failures"],
)
def test_the_console_health_line(
    row: dict[str, Any] | None, interval: float, state: str, words: str
) -> None:
    got_state, text = health_line(row, NOW, interval)
    assert got_state == state and words in text


def observation(**overrides: Any) -> dict[str, Any]:
    row = {
        "state": "suppressed",
        "muted": "inhibited",
        "muted_by": "DGXSparkNodeDown on dgx-spark-01",
        "seen_at": NOW,
        "resolve_reason": None,
        "resolved_starts_at": None,
    }
    return {**row, **overrides}


def test_a_firing_alert_muted_in_alertmanager_says_by_what() -> None:
    shown = alertmanager_view(observation(), "firing", EPISODE)
    assert shown is not None and shown["muted"] == "inhibited"
    assert (
        muted_text(observation()) == "inhibited in Alertmanager by DGXSparkNodeDown on dgx-spark-01"
    )
    assert muted_text(observation(state="active", muted=None)) == ""


def test_the_resolve_reason_belongs_to_its_episode_only() -> None:
    resolved = observation(
        state="absent",
        resolve_reason="no longer listed by Alertmanager",
        resolved_starts_at=EPISODE,
    )
    assert alertmanager_view(resolved, "resolved", EPISODE) == {
        "resolve_reason": "no longer listed by Alertmanager"
    }
    # Re-fired and resolved again by Alertmanager itself: the old reason is not this one's.
    assert alertmanager_view(resolved, "resolved", EPISODE + timedelta(hours=2)) is None
