"""The rows an ingest appends for each alert that changed: a transition, and an outbox row
per channel (its snapshot frozen at the moment of the change)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.alerts import Alert, WebhookPayload
from bridge.dedup import Action, Decision
from bridge.routing import PAGERDUTY, SLACK
from bridge.store.alert_rows import NAME_CHARS, SEVERITY_CHARS

# More Slack triggers than this in one post become one message listing them.
SLACK_GROUP_MIN_ALERTS = 4


@dataclass(frozen=True)
class Change:
    """One alert of a payload that changed its row: what to append for it. A value: the
    ingest's stages pass these along and never change one."""

    payload: int  # index of its payload in the batch
    alert: Alert
    decision: Decision
    channels: tuple[str, ...]  # where it is notified on its own
    flap_note: str | None = None
    priority: int = 0
    # Folded into its name's storm: every channel it was routed to (the storm notifies
    # them); None: not folded.
    folded_channels: tuple[str, ...] | None = None
    # The storm its alert belongs to after this change, as far as the ingest knows it
    # before folding (None for a storm this ingest opens).
    storm_id: int | None = None

    @property
    def folded(self) -> bool:
        return self.folded_channels is not None


def snapshot(alert: Alert, payload: WebhookPayload) -> dict[str, Any]:
    """What a notifier needs later, frozen at the moment of the transition."""
    return {
        "status": alert.status,
        "labels": alert.labels,
        "annotations": alert.annotations,
        "starts_at": alert.starts_at.isoformat(),
        "ends_at": alert.ends_at.isoformat() if alert.ends_at else None,
        "generator_url": alert.generator_url,
        "fingerprint": alert.fingerprint,
        "group_key": payload.group_key,
        "receiver": payload.receiver,
    }


def transition_row(change: Change, alert_id: int, now: datetime) -> dict[str, Any]:
    alert = change.alert
    return {
        "alert_id": alert_id,
        "fingerprint": alert.fingerprint,
        "alertname": alert.name[:NAME_CHARS],
        "node": alert.node[:NAME_CHARS],
        "severity": alert.severity[:SEVERITY_CHARS],
        "status": alert.status,
        "reason": change.decision.reason,
        "starts_at": alert.starts_at,
        "at": now,
    }


def delivery_rows(
    change: Change, alert_id: int, payload: WebhookPayload, now: datetime
) -> list[dict[str, Any]]:
    action = "trigger" if change.decision.action is Action.NOTIFY_FIRING else "resolve"
    rows = [
        _delivery(change, alert_id, channel, action, payload, now) for channel in change.channels
    ]
    if change.flap_note is not None:
        notice = _delivery(change, alert_id, SLACK, "flapping", payload, now)
        notice["snapshot"]["note"] = change.flap_note
        rows.append(notice)
    return rows


def _delivery(
    change: Change,
    alert_id: int,
    channel: str,
    action: str,
    payload: WebhookPayload,
    now: datetime,
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "channel": channel,
        "action": action,
        "status": "pending",
        "batch_key": None,
        "starts_at": change.alert.starts_at,
        # `paged`: the Slack message offers Acknowledge only for an alert that paged.
        "snapshot": {**snapshot(change.alert, payload), "paged": PAGERDUTY in change.channels},
        "context": None,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "priority": change.priority,
    }


def group_slack_triggers(deliveries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One post's outbox rows, its Slack triggers sharing a batch key when there are
    enough of them to become one message."""
    triggers = sum(d["channel"] == SLACK and d["action"] == "trigger" for d in deliveries)
    if triggers < SLACK_GROUP_MIN_ALERTS:
        return deliveries
    key = uuid.uuid4().hex
    return [
        {**d, "batch_key": key} if d["channel"] == SLACK and d["action"] == "trigger" else d
        for d in deliveries
    ]
