"""PagerDuty webhooks v3: verify, parse, and say what an event changes (pure).

Contract: https://developer.pagerduty.com/docs/webhooks-overview and
https://developer.pagerduty.com/docs/verifying-webhook-signatures. The body is
`{"event": {id, event_type, occurred_at, agent, data}}`; `X-PagerDuty-Signature` holds
one or more comma-separated `v1=<hex HMAC-SHA256 of the raw body>` (several while a
secret is being rotated). Delivery is at least once and unordered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bridge.alerts import PayloadError, parse_time
from bridge.notify.mrkdwn import escape
from bridge.notify.pagerduty_event import DEDUP_PREFIX, MAX_DEDUP_KEY_CHARS
from bridge.notify.storm_message import STORM_PREFIX
from bridge.textsafe import storable

# PagerDuty's event bodies are a few KiB (an incident, or a note of at most 25,000
# characters); 128 KiB refuses anything far beyond that before it is parsed.
MAX_WEBHOOK_BYTES = 128 * 1024
MAX_SIGNATURES = 10
MAX_NOTE_CHARS = 2000
MAX_NAME_CHARS = 255
MAX_ID_CHARS = 64  # the column holding a PagerDuty incident id
MAX_URL_CHARS = 2000

# Events that change what the Slack message shows; the incident's `status` comes with each.
STATE_EVENTS = (
    # The incident opened: ties its id to what it is about (the current episode or storm).
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.reassigned",
    "incident.escalated",
    "incident.resolved",
)
NOTE_EVENT = "incident.annotated"
HANDLED = (*STATE_EVENTS, NOTE_EVENT)
STATUSES = ("triggered", "acknowledged", "resolved")


class WebhookError(ValueError):
    """A well-signed body that is not a v3 event: 400."""


@dataclass(frozen=True)
class PdEvent:
    id: str
    type: str
    occurred_at: datetime
    agent: str  # who did it ('' when PagerDuty itself, e.g. an escalation)
    incident_id: str = ""
    incident_url: str = ""
    incident_key: str = ""  # our dedup_key for incidents the bridge opened ('' for notes)
    status: str = ""  # '' for notes
    assignees: tuple[str, ...] = ()
    note: str = ""
    created_at: datetime | None = None  # when the incident opened (None: not said)


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    """Any of the header's `v1=` signatures matches (constant-time compare each)."""
    if not header:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    matched = False
    for part in header.split(",")[:MAX_SIGNATURES]:
        version, _, given = part.strip().partition("=")
        # Compare every candidate, so the time taken says nothing about which matched.
        if version == "v1" and hmac.compare_digest(given.encode(), expected.encode()):
            matched = True
    return matched


def _str(obj: Any, key: str, limit: int = MAX_NAME_CHARS) -> str:
    """A text field, as the database can store it: a lone surrogate or NUL in a signed
    event is PagerDuty's text, shown as U+FFFD, never a 5xx (which disables the hook)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return storable(value[:limit]) if isinstance(value, str) else ""


def parse_event(body: bytes) -> PdEvent | None:
    """The event, or None for a type the bridge does not handle (answered 200, ignored)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        raise WebhookError("body is not JSON") from None
    event = doc.get("event") if isinstance(doc, dict) else None
    if not isinstance(event, dict):
        raise WebhookError("`event` object is missing")
    event_id, event_type = _str(event, "id"), _str(event, "event_type")
    if not event_id or not event_type:
        raise WebhookError("`event.id` and `event.event_type` are required")
    if event_type not in HANDLED:
        return None
    try:
        occurred_at = parse_time(event.get("occurred_at"), "occurred_at")
    except PayloadError:
        occurred_at = None
    if occurred_at is None:
        raise WebhookError("`event.occurred_at` is not a time")
    data = event.get("data")
    if not isinstance(data, dict):
        raise WebhookError("`event.data` is missing")
    base = PdEvent(event_id, event_type, occurred_at, _str(event.get("agent"), "summary"))
    if event_type == NOTE_EVENT:
        # A note's `data` is the note; its incident is a reference beside it.
        incident = data.get("incident")
        return replace(
            base,
            incident_id=_str(incident, "id", MAX_ID_CHARS),
            incident_url=_str(incident, "html_url", MAX_URL_CHARS),
            note=_str(data, "content", MAX_NOTE_CHARS),
        )
    status = _str(data, "status")
    if status not in STATUSES:
        raise WebhookError("`event.data.status` is not an incident status")
    assignees = data.get("assignees")
    names = (_str(a, "summary") for a in (assignees if isinstance(assignees, list) else [])[:10])
    try:
        created_at = parse_time(data.get("created_at"), "created_at")
    except PayloadError:
        created_at = None  # optional: the other checks still hold without it
    return replace(
        base,
        incident_id=_str(data, "id", MAX_ID_CHARS),
        incident_url=_str(data, "html_url", MAX_URL_CHARS),
        incident_key=_str(data, "incident_key", MAX_DEDUP_KEY_CHARS),
        status=status,
        assignees=tuple(n for n in names if n),
        created_at=created_at,
    )


def fingerprint_of(incident_key: str) -> str | None:
    """Our alert's fingerprint from an incident key the bridge chose (`dedup_key`)."""
    if not incident_key.startswith(DEDUP_PREFIX):
        return None
    return incident_key[len(DEDUP_PREFIX) :] or None


def storm_key_parts(incident_key: str) -> tuple[str, datetime] | None:
    """(alert name, start) of a storm's incident key `<prefix>storm/<name>/<start>`; None
    for another key or a hashed one (an over-long name: matched by recomputing it)."""
    if not incident_key.startswith(STORM_PREFIX):
        return None
    name, _, start = incident_key[len(STORM_PREFIX) :].rpartition("/")
    try:
        started_at = datetime.fromisoformat(start)
    except ValueError:
        return None
    if not name or started_at.tzinfo is None:
        return None
    return name, started_at


def is_storm_key(incident_key: str) -> bool:
    return incident_key.startswith(STORM_PREFIX)


# PagerDuty's clock against the one that set the start (Prometheus's for an episode, the
# bridge's for a storm, whose incident opens moments after it): an event this much before
# the start still belongs to it. An earlier episode's events are older than this, or of
# an incident tied to that episode.
CLOCK_SKEW = timedelta(seconds=30)


@dataclass(frozen=True)
class Belonging:
    """What an event is checked against: when its episode (or storm) started, the
    incident tied to it, and whether the event's incident is tied to something else."""

    started_at: datetime
    tied_incident: str | None
    incident_tied_elsewhere: bool


def not_shown_because(event: PdEvent, to: Belonging) -> str:
    """Why the event is not about this episode ('' when it is): it is older than the
    episode, or of another incident (an earlier episode's carries the same key)."""
    if to.incident_tied_elsewhere:
        return "its incident belongs to another episode"
    if to.tied_incident and event.incident_id and to.tied_incident != event.incident_id:
        return "another incident is tied to this episode"
    earliest = to.started_at - CLOCK_SKEW
    if event.occurred_at < earliest:
        return "older than the episode"
    if event.created_at is not None and event.created_at < earliest:
        return "its incident opened before the episode"
    return ""


def responder(event: PdEvent) -> str:
    """Who is on it: the acknowledging agent, else the assignees."""
    if event.type == "incident.acknowledged" and event.agent:
        return event.agent
    return ", ".join(event.assignees) or event.agent


def thread_line(event: PdEvent, still_firing: bool) -> str:
    """The one line the Slack thread gets for this event (PagerDuty's text escaped)."""
    who = escape(event.agent or "PagerDuty")
    to = escape(", ".join(event.assignees) or "nobody")
    lines = {
        "incident.triggered": f":pager: Paged in PagerDuty: assigned to {to}.",
        "incident.acknowledged": f":eyes: Acknowledged in PagerDuty by {who}.",
        "incident.unacknowledged": ":bell: Unacknowledged in PagerDuty: nobody is on it now.",
        "incident.reassigned": f":busts_in_silhouette: Reassigned in PagerDuty to {to}.",
        "incident.escalated": f":arrow_up: Escalated in PagerDuty to {to}.",
        "incident.resolved": f":white_check_mark: Resolved in PagerDuty by {who}.",
        NOTE_EVENT: f":memo: Note from {who} in PagerDuty: {escape(event.note)}",
    }
    line = lines[event.type]
    if event.type == "incident.resolved" and still_firing:
        line += " Prometheus still fires: resolved in PagerDuty, still firing (no new page)."
    return line
