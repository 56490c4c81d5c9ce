"""A window request from the API, validated into a `WindowSpec` (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.alerts import PayloadError, parse_time
from bridge.durations import DurationError, parse_duration
from bridge.silences.matching import Matcher, matches_everything
from bridge.silences.recurrence import RecurrenceError, validate_cron

MAX_MATCHERS = 32
MAX_COMMENT_CHARS = 2000
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class WindowError(ValueError):
    """A request that can never succeed: 400 naming `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


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


def _matchers(body: dict[str, Any]) -> tuple[Matcher, ...]:
    raw = body.get("matchers")
    node = body.get("node")
    matchers: list[Matcher] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise WindowError("matchers", "must be a list of {name, value, isRegex, isEqual}")
        if len(raw) > MAX_MATCHERS:
            raise WindowError("matchers", f"at most {MAX_MATCHERS} matchers")
        for i, item in enumerate(raw):
            matchers.append(_matcher(item, f"matchers[{i}]"))
    if node is not None:
        if not isinstance(node, str) or not node:
            raise WindowError("node", "must be a non-empty string")
        matchers.append(Matcher("node", node))
    if not matchers:
        raise WindowError("matchers", "give at least one matcher, or `node`")
    if matches_everything(matchers):
        raise WindowError("matchers", "these matchers match every alert; narrow them")
    return tuple(matchers)


def _matcher(item: Any, where: str) -> Matcher:
    if not isinstance(item, dict):
        raise WindowError(where, "must be an object")
    name, value = item.get("name"), item.get("value")
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise WindowError(f"{where}.name", "must be a label name")
    if not isinstance(value, str):
        raise WindowError(f"{where}.value", "must be a string")
    for flag in ("isRegex", "isEqual"):
        if flag in item and not isinstance(item[flag], bool):
            raise WindowError(f"{where}.{flag}", "must be true or false")
    matcher = Matcher(name, value, item.get("isRegex", False), item.get("isEqual", True))
    if matcher.is_regex:
        try:
            re.compile(value)
        except re.error as exc:
            raise WindowError(f"{where}.value", f"invalid regular expression: {exc}") from None
    return matcher


def _time(body: dict[str, Any], key: str) -> datetime | None:
    if body.get(key) is None:
        return None
    try:
        return parse_time(body[key], key)
    except PayloadError as exc:
        raise WindowError(key, exc.message) from None


def _duration(value: Any, field: str) -> timedelta:
    if not isinstance(value, str):
        raise WindowError(field, "must be a duration like 30m or 2h")
    try:
        return timedelta(seconds=parse_duration(value))
    except DurationError as exc:
        raise WindowError(field, str(exc)) from None


def _text(body: dict[str, Any], key: str, limit: int) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise WindowError(key, "is required")
    if len(value) > limit:
        raise WindowError(key, f"at most {limit} characters")
    return value.strip()


def parse_window(
    body: Any, now: datetime, *, max_duration: timedelta, default_timezone: str
) -> WindowSpec:
    """Validate a `POST /silences` body; raise `WindowError` naming the problem."""
    if not isinstance(body, dict):
        raise WindowError("body", "must be a JSON object")
    matchers = _matchers(body)
    created_by = _text(body, "createdBy", 255)
    comment = _text(body, "comment", MAX_COMMENT_CHARS)
    starts_at = _time(body, "startsAt") or now
    ends_at = _time(body, "endsAt")
    recurrence = _recurrence(body.get("recurrence"), default_timezone)
    if recurrence is not None:
        if ends_at is not None or body.get("duration") is not None:
            raise WindowError("recurrence", "a recurring window takes recurrence.duration only")
        if recurrence.duration > max_duration:
            raise WindowError("recurrence.duration", f"longer than the maximum {max_duration}")
        return WindowSpec(matchers, starts_at, None, created_by, comment, recurrence)

    if body.get("duration") is not None:
        if ends_at is not None:
            raise WindowError("duration", "give endsAt or duration, not both")
        ends_at = starts_at + _duration(body["duration"], "duration")
    if ends_at is None:
        raise WindowError("endsAt", "give endsAt or duration")
    if ends_at <= starts_at:
        raise WindowError("endsAt", "must be after startsAt")
    if ends_at <= now:
        raise WindowError("endsAt", "is in the past")
    if ends_at - starts_at > max_duration:
        raise WindowError("endsAt", f"window longer than the maximum {max_duration}")
    return WindowSpec(matchers, starts_at, ends_at, created_by, comment, None)


def _recurrence(raw: Any, default_timezone: str) -> Recurrence | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise WindowError("recurrence", "must be {cron, duration, timezone}")
    cron = raw.get("cron")
    if not isinstance(cron, str):
        raise WindowError("recurrence.cron", "is required, e.g. '0 2 * * SUN'")
    timezone = raw.get("timezone") or default_timezone
    if not isinstance(timezone, str):
        raise WindowError("recurrence.timezone", "must be a time zone name")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise WindowError("recurrence.timezone", f"unknown time zone {timezone!r}") from None
    try:
        validate_cron(cron, timezone)
    except RecurrenceError as exc:
        raise WindowError("recurrence.cron", str(exc)) from None
    duration = _duration(raw.get("duration"), "recurrence.duration")
    return Recurrence(cron, duration, timezone)
