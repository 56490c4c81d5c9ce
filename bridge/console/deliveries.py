"""The deliveries page's view model: filters read from the query string, rows as shown (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bridge.console.timefmt import stamp
from bridge.routing import CHANNELS
from bridge.store.read_model import DeliveryFilter

STATUSES = ("pending", "in_flight", "delivered", "dry_run", "dead")
MAX_NODE_CHARS = 255
# An error is shown whole on the alert page; a list row shows its start.
MAX_ERROR_CHARS_LISTED = 300


@dataclass(frozen=True)
class DeliveryLine:
    id: int
    fingerprint: str  # "": a delivery of no alert (a channel summary)
    alertname: str
    node: str
    severity: str
    channel: str
    action: str
    status: str
    attempts: int
    created: str
    finished: str
    next_attempt: str
    error: str
    retryable: bool


def read_filter(args: Mapping[str, str]) -> DeliveryFilter:
    """Unknown values are ignored rather than refused: a stale bookmark still shows a page."""
    status = args.get("status", "")
    channel = args.get("channel", "")
    node = args.get("node", "")[:MAX_NODE_CHARS]
    return DeliveryFilter(
        status=status if status in STATUSES else "",
        channel=channel if channel in CHANNELS else "",
        node=node,
    )


def _short(text: str | None, limit: int | None) -> str:
    if not text:
        return ""
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


def delivery_line(
    row: Mapping[str, Any],
    now: datetime,
    tz: ZoneInfo,
    error_chars: int | None = MAX_ERROR_CHARS_LISTED,
) -> DeliveryLine:
    """One delivery joined with its alert's name and node; `error_chars=None`: the whole error."""
    status = str(row["status"])
    return DeliveryLine(
        id=int(row["id"]),
        fingerprint=str(row["fingerprint"] or ""),
        alertname=str(row["alertname"] or ""),
        node=str(row["node"] or ""),
        severity=str(row["severity"] or ""),
        channel=str(row["channel"]),
        action=str(row["action"]),
        status=status,
        attempts=int(row["attempts"]),
        created=stamp(row["created_at"], tz, now),
        finished=stamp(row["finished_at"], tz, now) if row["finished_at"] else "",
        next_attempt=stamp(row["next_attempt_at"], tz, now) if status == "pending" else "",
        error=_short(row["last_error"], error_chars),
        retryable=status == "dead",
    )
