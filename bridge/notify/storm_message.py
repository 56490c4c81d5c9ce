"""Storm incident messages: pure functions of a `StormView` (PagerDuty events, Slack blocks).

One PagerDuty incident per storm (`dedup_key` from the alert name and the storm's
start), refreshed by new triggers on the same key; one Slack message, updated in
place, with a thread line when nodes join and when the storm is over.
Limits: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ (summary
1024 characters, event 512 KB) and https://api.slack.com/reference/block-kit/blocks.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from bridge.durations import format_duration
from bridge.notify.mrkdwn import escape, link
from bridge.notify.mrkdwn import truncate as truncate_mrkdwn
from bridge.notify.pagerduty_event import (
    CLIENT_NAME,
    DEDUP_PREFIX,
    MAX_DEDUP_KEY_CHARS,
    MAX_SUMMARY_CHARS,
    pd_severity,
)
from bridge.notify.result import truncate
from bridge.notify.slack_blocks import (
    ACTIONS_BLOCK_ID,
    MAX_FALLBACK_CHARS,
    _header,
    _menu,
    _section,
    lines_of_response,
    response_context,
)
from bridge.storm_view import FoldedAlert, StormView
from bridge.vocabulary import (
    ACTION_ACK,
    ACTION_SILENCE,
    CHOICE_LABELS,
    STORM_ACK,
    STORM_SILENCES,
    button_value,
)

# The alerts with the highest values, listed in the incident and the message.
WORST_LISTED = 10
# Nodes listed with their counts; the rest are summed in one entry (keeps the event
# far below PagerDuty's 512 KB on a cluster of thousands of nodes).
NODES_LISTED = 100
# Folded alerts still firing, listed by place; then how many more.
STILL_FIRING_LISTED = 50
# Node names in one "joined" thread line; then how many more.
JOINED_LISTED = 30
# The Slack message shows this many nodes with their counts.
SLACK_NODES_LISTED = 10
STORM_PREFIX = DEDUP_PREFIX + "storm/"


def storm_key(alertname: str, started_at: datetime) -> str:
    """Stable for one storm on every replica: derived from its name and its start only."""
    key = f"{STORM_PREFIX}{alertname}/{started_at.isoformat()}"
    if len(key) <= MAX_DEDUP_KEY_CHARS:
        return key
    digest = hashlib.sha256(f"{alertname}/{started_at.isoformat()}".encode())
    return STORM_PREFIX + digest.hexdigest()


def storm_dedup_key(view: StormView) -> str:
    return storm_key(view.alertname, view.started_at)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _size(view: StormView) -> str:
    """`312 GPUs on 78 nodes` (alerts instead of GPUs when not every alert names a GPU)."""
    what = "GPU" if view.all_gpus else "alert"
    text = _plural(len(view.alerts), what)
    nodes = view.nodes
    if nodes:
        text += f" on {_plural(len(nodes), 'node')}"
    return text


def _extreme(view: StormView) -> str:
    """`hottest dgx-spark-17 GPU 2 at 94 °C` for the firing alert with the highest value."""
    firing = [a for a in view.worst(1) if a.status == "firing" and a.number is not None]
    if not firing:
        return ""
    word = "hottest" if "temperature" in view.alertname.lower() else "worst"
    return f"{word} {firing[0].where} at {firing[0].value}"


def lasted(view: StormView) -> str:
    end = view.ended_at or view.last_fired_at
    return format_duration(max(0.0, (end - view.started_at).total_seconds()))


def storm_summary(view: StormView) -> str:
    """`GPUTemperatureCritical storm: 312 GPUs on 78 nodes, hottest dgx-spark-17 GPU 2 at 94 °C`."""
    if view.ended:
        text = f"{view.alertname} storm over after {lasted(view)}: {_size(view)}, all resolved"
        return truncate(text, MAX_SUMMARY_CHARS)
    parts = [f"{view.alertname} storm: {_size(view)}"]
    extreme = _extreme(view)
    if extreme:
        parts.append(extreme)
    firing = len(view.firing)
    if firing < len(view.alerts):
        parts.append(f"{firing:,} still firing")
    return truncate(", ".join(parts), MAX_SUMMARY_CHARS)


def alerts_url(view: StormView, public_url: str | None) -> str:
    """The bridge's alert list filtered to this storm (a path when no public URL is set)."""
    path = "/alerts?" + urlencode({"storm": view.id, "limit": 500})
    return f"{public_url}{path}" if public_url else path


def _line(alert: FoldedAlert) -> str:
    return f"{alert.where}: {alert.value}" if alert.value else alert.where


def _listed(items: list[str], limit: int) -> list[str]:
    if len(items) <= limit:
        return items
    return [*items[:limit], f"… and {len(items) - limit:,} more"]


def storm_details(view: StormView, public_url: str | None) -> dict[str, Any]:
    """custom_details: counts by node, the worst alerts, what still fires, the alert list."""
    by_node = view.counts_by_node
    counts: dict[str, int] = dict(by_node[:NODES_LISTED])
    if len(by_node) > NODES_LISTED:
        rest = by_node[NODES_LISTED:]
        counts[f"({len(rest):,} more nodes)"] = sum(n for _, n in rest)
    still = [a.where for a in sorted(view.firing, key=lambda a: a.where)]
    return {
        "storm": f"{view.alertname} storm, started {view.started_at.isoformat()}",
        "ended": view.ended_at.isoformat() if view.ended_at else None,
        "folded alerts": len(view.alerts),
        "folded firings": view.fired_count,
        "firing now": len(still),
        "nodes": len(view.nodes),
        "alerts by node": counts,
        "worst alerts": [_line(a) for a in view.worst(WORST_LISTED)],
        "still firing": _listed(still, STILL_FIRING_LISTED),
        "alert list": alerts_url(view, public_url),
        "about": (
            "Further firings of this alert name are folded into this one incident while it "
            "storms; alerts paged before the storm began keep their own incidents. It "
            "resolves when none has fired for the storm window and every folded alert resolved."
        ),
    }


def storm_trigger_event(view: StormView, public_url: str | None) -> dict[str, Any]:
    nodes = view.nodes
    payload: dict[str, Any] = {
        "summary": storm_summary(view),
        # PagerDuty refuses a blank source (a node label of spaces is a valid label).
        "source": truncate(
            nodes[0] if len(nodes) == 1 and nodes[0].strip() else _plural(len(nodes), "node"), 255
        ),
        "severity": pd_severity(view.severity),
        "timestamp": view.started_at.isoformat(),
        "component": "storm",
        "group": "dgx-spark",
        "class": view.alertname,
        "custom_details": storm_details(view, public_url),
    }
    event: dict[str, Any] = {
        "event_action": "trigger",
        "dedup_key": storm_dedup_key(view),
        "payload": payload,
        "client": CLIENT_NAME,
    }
    if public_url:
        url = alerts_url(view, public_url)
        event["links"] = [{"href": url, "text": "The storm's alerts in the bridge"}]
        event["client_url"] = url
    return event


def storm_resolve_event(view: StormView) -> dict[str, Any]:
    return {"event_action": "resolve", "dedup_key": storm_dedup_key(view)}


def storm_acknowledge_event(view: StormView) -> dict[str, Any]:
    """Acknowledged from the storm's Slack message: the storm's incident, by its key."""
    return {"event_action": "acknowledge", "dedup_key": storm_dedup_key(view)}


def resolved_in_pagerduty(view: StormView) -> bool:
    """Someone resolved the storm's incident in PagerDuty. A refresh (a trigger on the
    same key) would open a new incident and page again: it is not sent."""
    return (view.response or {}).get("pd_status") == "resolved"


def storm_actions(view: StormView) -> list[dict[str, Any]]:
    """Acknowledge (a storm that paged, until someone did) and a Silence menu that fits a
    storm; none once it is over. Buttons carry `<choice>:<storm id>.<start>` only."""
    if view.ended:
        return []
    elements: list[dict[str, Any]] = []
    if view.paged and not (view.response or {}).get("acked_by"):
        elements.append(
            {
                "type": "button",
                "action_id": ACTION_ACK,
                "style": "primary",
                "text": {"type": "plain_text", "text": CHOICE_LABELS[STORM_ACK]},
                "value": button_value(STORM_ACK, view.id, view.started_at),
            }
        )
    options = [
        {
            "text": {"type": "plain_text", "text": CHOICE_LABELS[choice]},
            "value": button_value(choice, view.id, view.started_at),
        }
        for choice in STORM_SILENCES
    ]
    elements.append(_menu(ACTION_SILENCE, "Silence…", options))
    return [{"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": elements}]


def storm_slack_message(
    view: StormView, public_url: str | None, *, interactive: bool = False
) -> tuple[str, list[Any]]:
    """The storm's one message (posted once, then updated in place), with what people did
    and, when clicks are verified, its buttons."""
    summary = storm_summary(view)
    icon = ":white_check_mark:" if view.ended else ":rotating_light:"
    title = f"{view.alertname} storm" + (" over" if view.ended else "")
    status = (
        f"Over after {lasted(view)}: it held {_plural(view.fired_count, 'firing')}."
        if view.ended
        else f"{len(view.firing):,} firing now, {view.fired_count:,} folded firings so far."
    )
    worst = "\n".join(f"• {escape(_line(a))}" for a in view.worst(WORST_LISTED))
    by_node = view.counts_by_node
    nodes = "\n".join(f"• {escape(n)}: {c:,}" for n, c in by_node[:SLACK_NODES_LISTED])
    if len(by_node) > SLACK_NODES_LISTED:
        nodes += f"\n… and {len(by_node) - SLACK_NODES_LISTED:,} more nodes"
    url = alerts_url(view, public_url)
    footer = (
        link(url, "Every alert of the storm") if public_url else f"Every alert: `{escape(url)}`"
    )
    blocks: list[Any] = [
        _header(f"{icon} {title}"),
        _section(f"*{escape(summary)}*\n{status}"),
        *response_context(lines_of_response(view.response, still_firing=bool(view.firing))),
        _section(f"*Worst*\n{worst or '—'}"),
        _section(f"*By node*\n{nodes or '—'}"),
        *(storm_actions(view) if interactive else []),
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"{footer} · one message for the whole storm, updated in place; "
                    "nodes that join are listed in the thread",
                }
            ],
        },
    ]
    return truncate_mrkdwn(f"{icon} {escape(summary)}", MAX_FALLBACK_CHARS), blocks


def joined_line(view: StormView, joined: tuple[str, ...]) -> str:
    """The thread line when nodes join the storm."""
    names = ", ".join(escape(n) for n in _listed(list(joined), JOINED_LISTED))
    return truncate_mrkdwn(
        f":heavy_plus_sign: {_plural(len(joined), 'node')} joined: {names} (now {_size(view)})",
        MAX_FALLBACK_CHARS,
    )


def ended_line(view: StormView) -> str:
    """The thread line when the storm is over."""
    return (
        f":white_check_mark: Storm over after {lasted(view)}: it held "
        f"{_plural(view.fired_count, 'firing')} of {_plural(len(view.alerts), 'alert')} on "
        f"{_plural(len(view.nodes), 'node')}, all resolved. A new {escape(view.alertname)} "
        "pages on its own again."
    )
