"""A window request from the API, validated into a `WindowSpec` (pure).

Field by field through `bridge.silences.fields`, the validation every way in shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.silences import fields
from bridge.silences.errors import WindowError
from bridge.silences.matching import Matcher
from bridge.silences.recurrence import RecurrenceError, check_recurrence

__all__ = ["Recurrence", "WindowError", "WindowSpec", "check_spec", "parse_window"]

MAX_COMMENT_CHARS = fields.MAX_COMMENT_CHARS


@dataclass(frozen=True)
class Recurrence:
    cron: str
    duration: timedelta
    timezone: str


@dataclass(frozen=True)
class WindowSpec:
    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime | None  # None for recurring windows
    created_by: str
    comment: str
    recurrence: Recurrence | None


def check_spec(spec: WindowSpec) -> None:
    """What every stored window satisfies, however it was made (a Slack button builds its
    spec from an alert's labels, not from a request): `WindowError` otherwise."""
    for i, m in enumerate(spec.matchers):
        fields.matcher(m.name, m.value, m.is_regex, m.is_equal, f"matchers[{i}]")
    fields.check_matchers(spec.matchers)
    fields.required_text(spec.created_by, "createdBy", fields.MAX_CREATED_BY_CHARS)
    fields.required_text(spec.comment, "comment", MAX_COMMENT_CHARS, multiline=True)


def _matchers(body: dict[str, Any]) -> tuple[Matcher, ...]:
    raw = body.get("matchers")
    node = body.get("node")
    matchers: list[Matcher] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise WindowError("matchers", "must be a list of {name, value, isRegex, isEqual}")
        if len(raw) > fields.MAX_MATCHERS:
            raise WindowError("matchers", f"at most {fields.MAX_MATCHERS} matchers")
        for i, item in enumerate(raw):
            where = f"matchers[{i}]"
            if not isinstance(item, dict):
                raise WindowError(where, "must be an object")
            matchers.append(
                fields.matcher(
                    item.get("name"),
                    item.get("value"),
                    item.get("isRegex", False),
                    item.get("isEqual", True),
                    where,
                )
            )
    if node is not None:
        matchers.append(fields.node(node))
    fields.check_matchers(matchers)
    return tuple(matchers)


def parse_window(
    body: Any, now: datetime, *, max_duration: timedelta, default_timezone: str
) -> WindowSpec:
    """Validate a `POST /silences` body; raise `WindowError` naming the problem."""
    if not isinstance(body, dict):
        raise WindowError("body", "must be a JSON object")
    matchers = _matchers(body)
    created_by = fields.required_text(
        body.get("createdBy"), "createdBy", fields.MAX_CREATED_BY_CHARS
    )
    comment = fields.required_text(
        body.get("comment"), "comment", MAX_COMMENT_CHARS, multiline=True
    )
    starts_at = now
    if body.get("startsAt") is not None:
        starts_at = fields.window_time(body["startsAt"], "startsAt", now)
    recurrence = _recurrence(body.get("recurrence"), default_timezone, max_duration, now)
    if recurrence is not None:
        if body.get("endsAt") is not None or body.get("duration") is not None:
            raise WindowError("recurrence", "a recurring window takes recurrence.duration only")
        return WindowSpec(matchers, starts_at, None, created_by, comment, recurrence)

    ends_at = None
    if body.get("endsAt") is not None:
        # Bounded like a start: no arithmetic on it can overflow.
        ends_at = fields.window_time(body["endsAt"], "endsAt", now)
    if body.get("duration") is not None:
        if ends_at is not None:
            raise WindowError("duration", "give endsAt or duration, not both")
        ends_at = starts_at + fields.duration(body["duration"], "duration", max_duration)
    if ends_at is None:
        raise WindowError("endsAt", "give endsAt or duration")
    if ends_at <= starts_at:
        raise WindowError("endsAt", "must be after startsAt")
    if ends_at <= now:
        raise WindowError("endsAt", "is in the past")
    if ends_at - starts_at > max_duration:
        raise WindowError("endsAt", f"window longer than the maximum {max_duration}")
    return WindowSpec(matchers, starts_at, ends_at, created_by, comment, None)


def _recurrence(
    raw: Any, default_timezone: str, max_duration: timedelta, now: datetime
) -> Recurrence | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WindowError("recurrence", "must be {cron, duration, timezone}")
    cron = raw.get("cron")
    if not isinstance(cron, str):
        raise WindowError("recurrence.cron", "is required, e.g. '0 2 * * SUN'")
    fields.text(cron, "recurrence.cron", 200)
    timezone = raw.get("timezone") or default_timezone
    fields.text(timezone, "recurrence.timezone", 100)
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError("recurrence.timezone", f"unknown time zone {timezone!r}") from None
    duration = fields.duration(raw.get("duration"), "recurrence.duration", max_duration)
    try:
        check_recurrence(cron, timezone, duration, now)
    except RecurrenceError as exc:
        raise WindowError(f"recurrence.{exc.about}", str(exc)) from None
    return Recurrence(cron, duration, timezone)
