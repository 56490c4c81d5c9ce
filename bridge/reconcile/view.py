"""What /alerts and the console show of reconciliation, per alert (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.durations import format_duration
from bridge.reconcile.model import ABSENT, GRACE, OK, SUPPRESSED, UNREAD_NOTE

# Rounds in a row that concluded nothing before the console shows it as bad (not a blip).
FAILURES_BAD = 3


def alertmanager_view(
    observation: dict[str, Any] | None, status: str, starts_at: datetime
) -> dict[str, Any] | None:
    """Alertmanager's state of a firing alert (silenced / inhibited: no page, no reminder),
    or why a reconcile resolved this episode; None when there is nothing to say."""
    if observation is None:
        return None
    if status == "firing" and observation["state"] != ABSENT:
        return {
            "state": observation["state"],
            "muted": observation["muted"] if observation["state"] == SUPPRESSED else None,
            "muted_by": observation["muted_by"] if observation["state"] == SUPPRESSED else None,
            "seen_at": observation["seen_at"].isoformat() if observation["seen_at"] else None,
        }
    if (
        status == "resolved"
        and observation["resolve_reason"]
        and observation["resolved_starts_at"] == starts_at
    ):
        return {"resolve_reason": observation["resolve_reason"]}
    return None


def muted_text(observation: dict[str, Any] | None) -> str:
    """`silenced in Alertmanager by window 1f3c…` for a firing alert muted there, else ''."""
    if observation is None or observation["state"] != SUPPRESSED or not observation["muted"]:
        return ""
    return f"{observation['muted']} in Alertmanager by {observation['muted_by']}"


def health_line(
    status: dict[str, Any] | None, now: datetime, interval_seconds: float
) -> tuple[str, str]:
    """(ok | warn | bad, text) for the console: is the bridge in step with Alertmanager?"""
    if interval_seconds <= 0:
        return "warn", (
            "off (BRIDGE_RECONCILE_INTERVAL=0): alerts that resolve while silenced stay open"
        )
    if status is None or status["last_round_at"] is None:
        return "warn", "no round yet"
    ago = format_duration(max(0.0, (now - status["last_round_at"]).total_seconds()))
    if status["last_outcome"] == OK:
        detail = status["last_detail"] or ""
        if UNREAD_NOTE in detail:
            unread = detail[detail.index(UNREAD_NOTE) :]
            return "warn", f"in step with the Alertmanagers read (last round {ago} ago); {unread}"
        return "ok", f"in step with Alertmanager (last round {ago} ago)"
    if status["last_outcome"] == GRACE and not status["failures"]:
        return (
            "warn",
            f"waiting for a restarted Alertmanager to relearn its alerts: {status['last_detail']}",
        )
    success = status["last_success_at"]
    since = (
        f"last success {format_duration(max(0.0, (now - success).total_seconds()))} ago"
        if success is not None
        else "no success yet"
    )
    failures = int(status["failures"] or 0)
    return ("bad" if failures >= FAILURES_BAD else "warn"), (
        f"{failures} round(s) in a row concluded nothing ({status['last_outcome']}): "
        f"{status['last_detail']}; {since}"
    )
