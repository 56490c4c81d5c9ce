"""Slack interactivity: verify a request, parse a button click, decide what it asks (pure).

Contract: https://api.slack.com/authentication/verifying-requests-from-slack and
https://api.slack.com/reference/interaction-payloads/block-actions. A click arrives as
`application/x-www-form-urlencoded` with one field, `payload` (JSON). Buttons carry only
`<choice>:<id>.<episode>` (bridge/vocabulary.py): the alert or storm is looked up
server-side, nothing the handler acts on comes from a label value in the payload.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier

from bridge.clock import Clock
from bridge.silences.matching import Matcher
from bridge.vocabulary import (
    ACTION_ID,
    SILENCE_1H,
    SILENCE_4H,
    SILENCE_MONDAY,
    SILENCE_NODE_2H,
    STORM_NODES_1H,
    STORM_NODES_4H,
    STORM_SILENCE_1H,
    STORM_SILENCE_4H,
    read_value,
)

# A click's payload holds the whole message it came from (up to 50 blocks of up to
# 3000 characters, URL-encoded): 256 KiB is above any message the bridge posts and
# small enough that a flood of large bodies costs little to refuse.
MAX_INTERACTION_BYTES = 256 * 1024
# Slack's own replay window: "more than five minutes from local time".
MAX_CLOCK_SKEW_SECONDS = 5 * 60
MAX_ACTOR_CHARS = 255

_USER_ID = re.compile(r"^[A-Z0-9]{2,32}$")
MONDAY = 0
MONDAY_HOUR = 9


class InteractionError(ValueError):
    """A request that can never be acted on: answered with `status`, nothing changes."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(f"{error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True)
class Click:
    user_id: str
    actor: str  # who, as windows and messages record it
    choice: str
    target_id: int  # the alert's id (the storm's, for a storm choice)
    episode: int  # its starts_at (Unix seconds) when the message was posted
    action_ts: str
    response_url: str | None
    # The workspaces the payload says the click came from (`team.id`, `user.team_id`).
    team_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SilenceLimits:
    timezone: str  # for "until Monday 09:00"
    max_duration: timedelta  # BRIDGE_MAX_WINDOW_DURATION: no window from Slack is longer


@dataclass(frozen=True)
class SilencePlan:
    matchers: tuple[Matcher, ...]
    ends_at: datetime
    what: str  # "GPUTemperatureCritical on dgx-spark-01", "dgx-spark-01"


class _Clock(SlackClock):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock().timestamp()


def signature_valid(
    secret: str, body: bytes, timestamp: str | None, signature: str | None, clock: Clock
) -> bool:
    """Slack's `v0=` signature over `v0:{timestamp}:{body}`, and a timestamp within 5 minutes.

    slack-sdk's `SignatureVerifier` does the HMAC and compares in constant time; the checks
    before it keep a malformed header from raising inside it: headers arrive decoded as
    Latin-1, and "²" passes `str.isdigit()` but not `int()`, while a non-ASCII signature
    makes `hmac.compare_digest` raise.
    """
    if not timestamp or not signature or len(timestamp) > 12:
        return False
    if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii()):
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return SignatureVerifier(secret, clock=_Clock(clock)).is_valid(body, timestamp, signature)


def parse_value(value: Any) -> tuple[str, int, int]:
    read = read_value(value)
    if read is None:
        raise InteractionError(400, "unknown action", "the action's value is not one of ours")
    return read


def _text(obj: Any, key: str) -> str:
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else ""


def parse_click(body: bytes, mimetype: str) -> Click:
    """A verified request's body → the one click it carries; `InteractionError` otherwise."""
    if mimetype != "application/x-www-form-urlencoded":
        raise InteractionError(
            400, "unsupported content type", "expected application/x-www-form-urlencoded"
        )
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=8)
    except (ValueError, UnicodeDecodeError):
        raise InteractionError(400, "malformed form body") from None
    raw = form.get("payload")
    if not raw or len(raw) != 1:
        raise InteractionError(400, "missing payload", "one `payload` field is required")
    try:
        payload = json.loads(raw[0])
    except (ValueError, RecursionError):
        raise InteractionError(400, "malformed payload", "`payload` is not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise InteractionError(400, "unsupported interaction", "only block_actions are handled")
    user = payload.get("user")
    user_id = _text(user, "id")
    if not _USER_ID.match(user_id):
        raise InteractionError(400, "malformed payload", "`user.id` is not a Slack user id")
    actions = payload.get("actions")
    if not isinstance(actions, list) or len(actions) != 1 or not isinstance(actions[0], dict):
        raise InteractionError(400, "malformed payload", "expected exactly one action")
    action = actions[0]
    if not ACTION_ID.match(_text(action, "action_id")):
        raise InteractionError(400, "unknown action", "the action_id is not one of ours")
    value = action.get("value")
    if action.get("type") == "static_select":
        value = _text(action.get("selected_option"), "value")
    choice, target_id, episode = parse_value(value)
    name = _text(user, "username") or _text(user, "name") or user_id
    actor = f"{name} (Slack {user_id})"[:MAX_ACTOR_CHARS]
    return Click(
        user_id=user_id,
        actor=actor,
        choice=choice,
        target_id=target_id,
        episode=episode,
        action_ts=_text(action, "action_ts"),
        response_url=_text(payload, "response_url") or None,
        team_ids=tuple(t for t in (_text(payload.get("team"), "id"), _text(user, "team_id")) if t),
    )


def safe_response_url(url: str | None, api_url: str) -> str | None:
    """The click's `response_url`, only if it points at Slack (the host of the Web API or
    one under its domain): a URL from a payload is never fetched blindly."""
    if not url:
        return None
    parts, api = urlsplit(url), urlsplit(api_url)
    if parts.scheme != "https" or not parts.hostname or not api.hostname:
        return None
    api_host = api.hostname
    parent = api_host.split(".", 1)[1] if api_host.count(".") >= 2 else api_host
    host = parts.hostname
    same_place = host == api_host and parts.port == api.port
    if same_place or (not _is_ip(api_host) and host.endswith("." + parent)):
        return url
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def next_monday_morning(now: datetime, timezone: str) -> datetime:
    """The next Monday 09:00 in `timezone` strictly after `now`."""
    local = now.astimezone(ZoneInfo(timezone))
    days = (MONDAY - local.weekday()) % 7
    candidate = local.replace(hour=MONDAY_HOUR, minute=0, second=0, microsecond=0) + timedelta(
        days=days
    )
    if candidate <= local:
        candidate += timedelta(days=7)
    return candidate


def silence_plan(
    choice: str, labels: dict[str, str], now: datetime, timezone: str, max_duration: timedelta
) -> SilencePlan:
    """What a Silence choice silences, and until when: never longer than `max_duration`
    (BRIDGE_MAX_WINDOW_DURATION), whichever the choice."""
    node = labels.get("node") or labels.get("instance") or ""
    node_label = "node" if labels.get("node") else "instance"
    name = labels.get("alertname", "")
    if not node:
        raise InteractionError(400, "cannot silence", "the alert names no node")
    ends = {
        SILENCE_1H: now + timedelta(hours=1),
        SILENCE_4H: now + timedelta(hours=4),
        SILENCE_MONDAY: next_monday_morning(now, timezone),
        SILENCE_NODE_2H: now + timedelta(hours=2),
    }[choice]
    if choice == SILENCE_NODE_2H:
        return SilencePlan((Matcher(node_label, node),), min(ends, now + max_duration), node)
    return SilencePlan(
        (Matcher("alertname", name), Matcher(node_label, node)),
        min(ends, now + max_duration),
        f"{name} on {node}",
    )


# A storm's "only its nodes" silence names every node in one regex matcher; past this many
# the alert name everywhere is the silence that fits (and the regex stays small).
MAX_STORM_NODES = 200
_STORM_HOURS = {
    STORM_SILENCE_1H: 1,
    STORM_SILENCE_4H: 4,
    STORM_NODES_1H: 1,
    STORM_NODES_4H: 4,
}
_REGEX_SPECIAL = re.compile(r"([\\.^$|?*+()\[\]{}])")


def literal_regex(text: str) -> str:
    """`text` matched literally, in a syntax Alertmanager's RE2 and Python's re share."""
    return _REGEX_SPECIAL.sub(r"\\\1", text)


def storm_silence_plan(
    choice: str,
    alertname: str,
    places: Sequence[tuple[str, str]],
    now: datetime,
    max_duration: timedelta,
) -> SilencePlan:
    """What a storm's Silence choice silences: its alert name everywhere, or only on its
    nodes (`places`: the (label, value) naming each folded alert's node), for 1 h or 4 h,
    never longer than `max_duration`."""
    ends = min(now + timedelta(hours=_STORM_HOURS[choice]), now + max_duration)
    name = Matcher("alertname", alertname)
    if choice in (STORM_SILENCE_1H, STORM_SILENCE_4H):
        return SilencePlan((name,), ends, f"{alertname} on every node")
    labels = {label for label, _ in places}
    values = sorted({value for _, value in places})
    if not values or len(labels) != 1:
        raise InteractionError(
            400, "cannot silence", "the storm's alerts name no common node label"
        )
    if len(values) > MAX_STORM_NODES:
        raise InteractionError(
            400, "cannot silence", f"more than {MAX_STORM_NODES} nodes: silence the alert name"
        )
    (label,) = labels
    nodes = Matcher(label, "|".join(literal_regex(v) for v in values), is_regex=True)
    what = f"{alertname} on {len(values)} node{'s' if len(values) != 1 else ''}"
    return SilencePlan((name, nodes), ends, what)
