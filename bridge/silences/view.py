"""How a window looks through the API: state and sync state computed from stored rows (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.durations import format_duration


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def window_state(window: dict[str, Any], occurrences: list[dict[str, Any]], now: datetime) -> str:
    """pending | active | expired."""
    if window["expired_at"] is not None:
        return "expired"
    if any(o["starts_at"] <= now < o["ends_at"] for o in occurrences):
        return "active"
    if window["cron"] is None:
        return "expired" if window["ends_at"] <= now else "pending"
    return "pending"


def sync_state(occurrences: list[dict[str, Any]], now: datetime) -> str:
    """The worst sync state among occurrences that still matter (invalid: Alertmanager
    judged the silence itself invalid, never retried; refused: Alertmanager said no, e.g.
    its silence limit, retried; pending: not reached yet)."""
    relevant = [o for o in occurrences if o["ends_at"] > now or o["sync_state"] == "expiring"]
    states = {o["sync_state"] for o in relevant}
    for state in ("invalid", "refused", "pending", "expiring", "synced", "expired"):
        if state in states:
            return state
    return "synced"


def window_as_api(
    window: dict[str, Any], occurrences: list[dict[str, Any]], now: datetime
) -> dict[str, Any]:
    upcoming = [o for o in occurrences if o["ends_at"] > now][:5]
    recurrence = None
    if window["cron"] is not None:
        recurrence = {
            "cron": window["cron"],
            "duration": format_duration(window["duration_seconds"] or 0),
            "timezone": window["timezone"],
        }
    current = next((o for o in occurrences if o["starts_at"] <= now < o["ends_at"]), None)
    shown = current or (upcoming[0] if upcoming else (occurrences[-1] if occurrences else None))
    return {
        "id": window["id"],
        "matchers": window["matchers"],
        "startsAt": _iso(shown["starts_at"] if shown else window["starts_at"]),
        "endsAt": _iso(shown["ends_at"] if shown else window["ends_at"]),
        "createdBy": window["created_by"],
        "comment": window["comment"],
        "createdAt": _iso(window["created_at"]),
        "expiredAt": _iso(window["expired_at"]),
        "recurrence": recurrence,
        "state": window_state(window, occurrences, now),
        "sync": {
            "state": sync_state(occurrences, now),
            "errors": sorted({o["sync_error"] for o in occurrences if o["sync_error"]}),
        },
        "occurrences": [
            {
                "startsAt": _iso(o["starts_at"]),
                "endsAt": _iso(o["ends_at"]),
                "syncState": o["sync_state"],
                "alertmanagerSilences": o["am_silences"],
            }
            for o in upcoming
        ],
    }
