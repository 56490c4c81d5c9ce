"""Maintenance windows as the console lists them, and the create form read into a `/silences`
body (pure). Validation is `parse_window`'s: the same messages as the API, placed beside the
form field they are about."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bridge.console.timefmt import stamp
from bridge.silences.fields import parse_matcher_text
from bridge.silences.model import WindowError

# Expired windows are history; the page shows the newest few.
MAX_EXPIRED_SHOWN = 20
MAX_FORM_FIELD_CHARS = 4000


@dataclass(frozen=True)
class WindowLine:
    id: str
    state: str
    matchers: str
    starts: str
    ends: str
    comment: str
    created_by: str
    recurrence: str
    sync: str
    expirable: bool


@dataclass(frozen=True)
class WindowSections:
    active: tuple[WindowLine, ...]
    upcoming: tuple[WindowLine, ...]
    recurring: tuple[WindowLine, ...]
    expired: tuple[WindowLine, ...]


def matchers_text(matchers: Sequence[Mapping[str, Any]]) -> str:
    """`node="dgx-spark-02", alertname=~"GPU.*"` as Alertmanager writes matchers."""
    parts = []
    for m in matchers:
        op = ("=~" if m.get("isRegex") else "=") if m.get("isEqual", True) else "!~"
        if not m.get("isEqual", True) and not m.get("isRegex"):
            op = "!="
        parts.append(f'{m.get("name", "")}{op}"{m.get("value", "")}"')
    return ", ".join(parts)


def _when(value: str | None, tz: ZoneInfo, now: datetime) -> str:
    return stamp(datetime.fromisoformat(value), tz, now) if value else "—"


def window_line(window: Mapping[str, Any], now: datetime, tz: ZoneInfo) -> WindowLine:
    """One window as `/silences` returns it (`window_as_api`)."""
    recurrence = window.get("recurrence") or {}
    sync = window.get("sync") or {}
    sync_text = str(sync.get("state", ""))
    if sync.get("errors"):
        sync_text += ": " + "; ".join(str(e) for e in sync["errors"])
    return WindowLine(
        id=str(window["id"]),
        state=str(window["state"]),
        matchers=matchers_text(window.get("matchers") or []),
        starts=_when(window.get("startsAt"), tz, now),
        ends=_when(window.get("endsAt"), tz, now),
        comment=str(window.get("comment", "")),
        created_by=str(window.get("createdBy", "")),
        recurrence=(
            f"{recurrence['cron']} for {recurrence['duration']} ({recurrence['timezone']})"
            if recurrence
            else ""
        ),
        sync=sync_text,
        expirable=window["state"] != "expired",
    )


def sections(windows: Sequence[Mapping[str, Any]], now: datetime, tz: ZoneInfo) -> WindowSections:
    lines = [window_line(w, now, tz) for w in windows]
    return WindowSections(
        active=tuple(w for w in lines if w.state == "active"),
        upcoming=tuple(w for w in lines if w.state == "pending" and not w.recurrence),
        recurring=tuple(w for w in lines if w.recurrence and w.state != "expired"),
        expired=tuple(w for w in lines if w.state == "expired")[:MAX_EXPIRED_SHOWN],
    )


# --- the create form ------------------------------------------------------------------------

FORM_FIELDS = ("node", "matchers", "duration", "ends", "cron", "comment", "created_by")


class FormError(WindowError):
    """What only the form can get wrong; `field` is the form's field, not the API's."""


def form_field(api_field: str) -> str:
    """The form field a `WindowError` about `api_field` belongs beside."""
    if api_field.startswith("matchers"):
        return "matchers"
    if api_field.startswith("recurrence"):
        return "duration" if api_field.endswith("duration") else "cron"
    return {
        "node": "node",
        "duration": "duration",
        "endsAt": "ends",
        "startsAt": "ends",
        "comment": "comment",
        "createdBy": "created_by",
    }.get(api_field, "form")


def _matcher(line: str) -> dict[str, Any]:
    found = parse_matcher_text(line)
    if found is None:
        raise FormError("matchers", f'cannot read {line[:80]!r}; write e.g. alertname=~"GPU.*"')
    return found


def _local_end(raw: str, tz: ZoneInfo) -> str:
    """A `datetime-local` input (wall time in the bridge's zone) as an ISO time with offset."""
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise FormError("ends", "must be a date and time like 2026-12-04T18:30") from None
    return naive.replace(tzinfo=tz).isoformat() if naive.tzinfo is None else naive.isoformat()


def window_body(form: Mapping[str, str], tz: ZoneInfo) -> dict[str, Any]:
    """The `/silences` body the form describes; `FormError` for what only a form can get wrong.

    Everything else (a missing end, a too long window, a bad cron) is left to
    `parse_window`, so the console and the API say the same thing.
    """
    fields = {k: (form.get(k) or "").strip() for k in FORM_FIELDS}
    for name, value in fields.items():
        if len(value) > MAX_FORM_FIELD_CHARS:
            raise FormError(name, f"at most {MAX_FORM_FIELD_CHARS} characters")
    body: dict[str, Any] = {
        "createdBy": fields["created_by"],
        "comment": fields["comment"],
    }
    if fields["node"]:
        body["node"] = fields["node"]
    lines = [line for line in fields["matchers"].splitlines() if line.strip()]
    if lines:
        body["matchers"] = [_matcher(line) for line in lines]
    if fields["cron"]:
        body["recurrence"] = {
            "cron": fields["cron"],
            "duration": fields["duration"] or None,
            "timezone": tz.key,
        }
        if fields["ends"]:
            raise FormError("ends", "a recurring window takes a duration, not an end")
        return body
    if fields["duration"]:
        body["duration"] = fields["duration"]
    if fields["ends"]:
        body["endsAt"] = _local_end(fields["ends"], tz)
    return body
