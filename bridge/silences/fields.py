"""The fields of a maintenance window, validated once for every way in (pure).

The API (`POST /silences`), the CLI (before it sends), the console's form and Slack's
Silence buttons (through `check_spec` when a window is stored) all call these, so a
value one of them accepts is a value every reader of the window can handle: the
console's pages (a lone surrogate cannot be encoded, so one window answered 500 on `/`
and `/windows` for everyone), Alertmanager (its label names, its regex engine, its
refusal of matchers that all match the empty label set), the database and the
scheduler (no time or duration that overflows `datetime`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from bridge.durations import DurationError, parse_duration
from bridge.silences.errors import WindowError
from bridge.silences.matching import Matcher, matches_empty_label_set
from bridge.silences.regex import RegexRefused, compile_matcher
from bridge.silences.universe import matches_everything
from bridge.timeparse import TimeFormatError, parse_rfc3339

MAX_MATCHERS = 32
MAX_LABEL_NAME_CHARS = 128
MAX_MATCHER_VALUE_CHARS = 1024
MAX_CREATED_BY_CHARS = 255
MAX_COMMENT_CHARS = 2000
# A window may be planned years ahead, but not in 9999, where adding its duration
# overflows `datetime` (a 500 before).
MAX_YEARS_AHEAD = 10
MAX_START_AHEAD = timedelta(days=MAX_YEARS_AHEAD * 366)

# Alertmanager 0.25 takes only these label names in a silence's matchers (0.27+ also
# takes UTF-8 names); `fullmatch`: `$` would also accept a name ending in a newline.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*", re.ASCII)
# `name=value`, `name!=value`, `name=~regex`, `name!~regex`; the value may be quoted.
_MATCHER_TEXT = re.compile(
    r"[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*(=~|!~|!=|=)[ \t]*(.*?)[ \t]*", re.ASCII
)


def text(value: Any, field: str, limit: int, *, multiline: bool = False) -> str:
    """A string without lone surrogates or control characters (line breaks and tabs
    only where `multiline`), at most `limit` characters."""
    if not isinstance(value, str):
        raise WindowError(field, "must be a string")
    if len(value) > limit:
        raise WindowError(field, f"at most {limit} characters")
    for char in value:
        kind = unicodedata.category(char)
        if kind == "Cs":
            raise WindowError(field, "contains a lone surrogate (not valid Unicode text)")
        if kind == "Cc" and not (multiline and char in "\n\t"):
            raise WindowError(field, f"contains the control character U+{ord(char):04X}")
    return value


def required_text(value: Any, field: str, limit: int, *, multiline: bool = False) -> str:
    if not isinstance(value, str) or not value.strip():
        raise WindowError(field, "is required")
    return text(value, field, limit, multiline=multiline).strip()


def label_name(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _LABEL_NAME.fullmatch(value):
        raise WindowError(
            field, "must be a label name like node or alertname ([a-zA-Z_][a-zA-Z0-9_]*)"
        )
    if len(value) > MAX_LABEL_NAME_CHARS:
        raise WindowError(field, f"at most {MAX_LABEL_NAME_CHARS} characters")
    return value


def matcher(name: Any, value: Any, is_regex: Any, is_equal: Any, where: str) -> Matcher:
    for flag, given in (("isRegex", is_regex), ("isEqual", is_equal)):
        if not isinstance(given, bool):
            raise WindowError(f"{where}.{flag}", "must be true or false")
    label_name(name, f"{where}.name")
    text(value, f"{where}.value", MAX_MATCHER_VALUE_CHARS)
    if is_regex:
        try:
            compile_matcher(value)
        except RegexRefused as exc:
            raise WindowError(f"{where}.value", f"invalid regular expression: {exc}") from None
    return Matcher(name, value, is_regex, is_equal)


def node(value: Any) -> Matcher:
    if not isinstance(value, str) or not value:
        raise WindowError("node", "must be a non-empty string")
    return Matcher("node", text(value, "node", MAX_MATCHER_VALUE_CHARS))


def parse_matcher_text(line: str) -> dict[str, Any] | None:
    """`alertname=~"GPU.*"` as the API's matcher object; None when it is not one."""
    found = _MATCHER_TEXT.fullmatch(line)
    if not found:
        return None
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return {"name": name, "value": value, "isRegex": "~" in op, "isEqual": not op.startswith("!")}


def check_matchers(matchers: Sequence[Matcher]) -> None:
    """The set as a whole: the bridge's promise, then Alertmanager's own rule."""
    if not matchers:
        raise WindowError("matchers", "give at least one matcher, or `node`")
    if len(matchers) > MAX_MATCHERS:
        raise WindowError("matchers", f"at most {MAX_MATCHERS} matchers")
    if matches_everything(matchers):
        raise WindowError("matchers", "these matchers match every alert; narrow them")
    if matches_empty_label_set(matchers):
        raise WindowError(
            "matchers",
            "every matcher matches an alert without that label; Alertmanager "
            "refuses such a silence: add one that needs a label value",
        )


def window_time(value: Any, field: str, now: datetime) -> datetime:
    if not isinstance(value, str):
        raise WindowError(field, "must be an RFC 3339 time string")
    try:
        when = parse_rfc3339(value)
    except TimeFormatError as exc:
        raise WindowError(field, str(exc)) from None
    if when > now + MAX_START_AHEAD:
        raise WindowError(field, f"more than {MAX_YEARS_AHEAD} years ahead")
    return when


def duration(value: Any, field: str, maximum: timedelta) -> timedelta:
    """At most `maximum`, checked before any arithmetic (`99999999999d` overflows)."""
    if not isinstance(value, str):
        raise WindowError(field, "must be a duration like 30m or 2h")
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise WindowError(field, str(exc)) from None
    if seconds > maximum.total_seconds():
        raise WindowError(field, f"window longer than the maximum {maximum}")
    return timedelta(seconds=seconds)
