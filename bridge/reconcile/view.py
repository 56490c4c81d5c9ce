"""What /alerts and the console show of reconciliation, per alert (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.reconcile.model import ABSENT, SUPPRESSED


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
