"""Slack Block Kit messages: pure functions of alerts.

Limits from https://api.slack.com/reference/block-kit/blocks and
https://api.slack.com/methods/chat.postMessage
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.durations import format_duration
from bridge.enrich.render import key_fact, missing_text, visible_items
from bridge.notify.mrkdwn import escape, link, truncate
from bridge.notify.result import truncate as truncate_plain
from bridge.notify.view import AlertView, LinkBase, links_for
from bridge.vocabulary import (
    ACK,
    ACTION_ACK,
    ACTION_SILENCE,
    CHOICE_LABELS,
    SILENCES,
    button_value,
)

__all__ = ["escape", "group_message", "resolved_reply", "single_message"]

MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3000
MAX_FIELDS = 10
# `text` is the notification fallback; Slack truncates past 40,000 characters
# but a phone notification shows a line, so keep it short.
MAX_FALLBACK_CHARS = 3000
# A group message lists at most this many alerts, then says how many more.
MAX_LISTED_ALERTS = 40

# A context value longer than this reads badly in a two-column field: it gets its own line.
MAX_FIELD_VALUE_CHARS = 60
# Slack's limit on one text element of a context block.
MAX_CONTEXT_ELEMENT_CHARS = 3000

ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "resolved": ":white_check_mark:"}


def _icon(alert: AlertView) -> str:
    if alert.status == "resolved":
        return ICONS["resolved"]
    return ICONS.get(alert.severity, ":bell:")


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": truncate_plain(text, MAX_HEADER_CHARS),
            "emoji": True,
        },
    }


def _section(text: str, fields: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)},
    }
    if fields:
        block["fields"] = [
            {"type": "mrkdwn", "text": truncate(f, 2000)} for f in fields[:MAX_FIELDS]
        ]
    return block


def links_text(links: list[dict[str, str]], limit: int = MAX_CONTEXT_ELEMENT_CHARS) -> str:
    """`Runbook · Grafana panel · …` as links, within one context element's limit: a link
    too long to fit (a 3 KB `generatorURL`) is named without its URL rather than making
    Slack refuse the whole message (`invalid_blocks`)."""
    parts = [link(item["href"], item["text"]) for item in links]
    while len(" · ".join(parts)) > limit:
        longest = max(range(len(parts)), key=lambda i: len(parts[i]))
        shortened = f"{escape(links[longest]['text'])} (link too long for Slack)"
        if len(shortened) >= len(parts[longest]):
            break
        parts[longest] = shortened
    return truncate(" · ".join(parts), limit)


def _links_block(alert: AlertView, base: LinkBase) -> dict[str, Any]:
    text = links_text(links_for(alert, base))
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _context_blocks(context: dict[str, Any] | None, fact: str) -> list[dict[str, Any]]:
    """Enrichment, compactly: short values as two-column fields, long ones as lines below,
    and what could not be fetched (and why) in small print. A line that is already the bold
    key fact above is not repeated."""
    blocks: list[dict[str, Any]] = []
    repeated = key_fact(context) if key_fact(context) and key_fact(context) in fact else None
    # Enrichment values come from Prometheus labels (an XID's `err_msg`): data, escaped.
    items = [(escape(k), escape(v)) for k, v in visible_items(context) if v != repeated]
    short = [(k, v) for k, v in items if len(v) <= MAX_FIELD_VALUE_CHARS][:MAX_FIELDS]
    long = [(k, v) for k, v in items if (k, v) not in short]
    if items:
        lines = "\n".join(f"*{k}:* {v}" for k, v in long)
        blocks.append(
            _section(
                "*Context*" + (f"\n{lines}" if lines else ""), [f"*{k}*\n{v}" for k, v in short]
            )
        )
    missing = missing_text(context)
    if missing:
        text = truncate(f":warning: Missing context: {escape(missing)}", MAX_CONTEXT_ELEMENT_CHARS)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    return blocks


def single_message(
    alert: AlertView,
    base: LinkBase,
    context: dict[str, Any] | None = None,
    *,
    interactive: bool = False,
) -> tuple[str, list[dict[str, Any]]]:
    """Fallback text and blocks for one alert, firing or resolved."""
    state = "RESOLVED" if alert.status == "resolved" else alert.severity.upper()
    title = f"{_icon(alert)} [{state}] {alert.name}" + (f" on {alert.where}" if alert.where else "")
    fact = alert.fact_with(key_fact(context))
    description = alert.annotations.get("description") or alert.annotations.get("summary", "")
    body = f"*{escape(fact)}*" if fact else ""
    if description and description != fact:
        body = f"{body}\n{escape(description)}" if body else escape(description)
    fields = [
        f"*Severity*\n{escape(alert.severity)}",
        f"*Since*\n{_slack_date(alert.starts_at)}",
    ]
    if alert.node:
        fields.append(f"*Node*\n{escape(alert.node)}")
    if alert.gpu:
        fields.append(f"*GPU*\n{escape(alert.gpu)}")
    blocks = [_header(title), _section(body or escape(alert.name), fields)]
    blocks += _resolve_reason_blocks(alert)
    blocks += _response_blocks(alert)
    blocks += _context_blocks(context, fact)
    if interactive:
        blocks += single_actions(alert)
    blocks.append(_links_block(alert, base))
    headline = alert.headline_with(fact)
    # The fallback `text` is mrkdwn too (notifications show it): escaped like the blocks.
    fallback = truncate(escape(f"[{state}] " + headline.split("] ", 1)[-1]), MAX_FALLBACK_CHARS)
    return fallback, blocks


def _slack_date(when: datetime) -> str:
    """Shown in each reader's own time zone, with the ISO time as fallback."""
    return f"<!date^{int(when.timestamp())}^{{date_short_pretty}} {{time}}|{when.isoformat()}>"


def _line(alert: AlertView) -> str:
    where = f" on {escape(alert.where)}" if alert.where else ""
    fact = f": {escape(alert.key_fact)}" if alert.key_fact else ""
    state = "; ".join(response_lines(alert))
    line = f"{_icon(alert)} *{escape(alert.name)}*{where}{fact}"
    # One alert's line never takes a whole section (a 16 KB summary annotation).
    return truncate(line, MAX_SECTION_CHARS // 4) + (f"\n      {state}" if state else "")


def group_message(
    alerts: list[AlertView], base: LinkBase, *, interactive: bool = False
) -> tuple[str, list[dict[str, Any]]]:
    """One message listing many alerts, never over Slack's block limits."""
    if len(alerts) == 1:
        return single_message(alerts[0], base, interactive=interactive)
    firing = [a for a in alerts if a.status != "resolved"]
    names = sorted({a.name for a in alerts})
    title = (
        f"{len(firing)} of {len(alerts)} alerts firing: {', '.join(names)}"
        if firing
        else f"All {len(alerts)} alerts resolved: {', '.join(names)}"
    )
    blocks: list[dict[str, Any]] = [_header(("🔥 " if firing else "✅ ") + title)]
    listed = alerts[:MAX_LISTED_ALERTS]
    chunk: list[str] = []
    for line in (_line(a) for a in listed):
        if chunk and len("\n".join([*chunk, line])) > MAX_SECTION_CHARS:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if chunk:
        blocks.append(_section("\n".join(chunk)))
    if len(alerts) > len(listed):
        blocks.append(_section(f"…and {len(alerts) - len(listed)} more (see /alerts)"))
    actions = group_actions(listed) if interactive else []
    blocks = blocks[: MAX_BLOCKS - 1 - len(actions)] + actions
    blocks.append(_links_block(alerts[0], base))
    return truncate(escape(title), MAX_FALLBACK_CHARS), blocks


def resolved_reply(alert: AlertView, now: datetime) -> str:
    """The thread reply on resolve: how long it lasted."""
    end = alert.ends_at or now
    lasted = format_duration(max(0.0, (end - alert.starts_at).total_seconds()))
    where = f" on {escape(alert.where)}" if alert.where else ""
    reason = alert.resolve_reason
    why = f" The bridge resolved it: {escape(reason)}." if reason else ""
    line = f"{ICONS['resolved']} {escape(alert.name)}{where} resolved after {lasted}.{why}"
    return truncate(line, MAX_FALLBACK_CHARS)


def _resolve_reason_blocks(alert: AlertView) -> list[dict[str, Any]]:
    """Resolved by reconciliation, not by Alertmanager: say why (bridge/reconcile)."""
    if alert.status != "resolved" or not alert.resolve_reason:
        return []
    text = truncate(
        f":information_source: {escape(alert.resolve_reason)}", MAX_CONTEXT_ELEMENT_CHARS
    )
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


def _when(iso: Any) -> str:
    try:
        return _slack_date(datetime.fromisoformat(str(iso)))
    except ValueError:
        return ""


def response_lines(alert: AlertView) -> list[str]:
    """What people did about the alert: PagerDuty's state, acknowledgement, silence."""
    return lines_of_response(alert.response, still_firing=alert.status != "resolved")


def lines_of_response(response: dict[str, Any] | None, *, still_firing: bool) -> list[str]:
    """What people did about an alert or a storm (a response as `responses.as_dict`)."""
    r = response or {}
    lines: list[str] = []
    status, responder = r.get("pd_status"), escape(str(r.get("pd_responder") or ""))
    url = str(r.get("pd_incident_url") or "")
    incident = f" ({link(url, 'incident')})" if url.startswith("https://") else ""
    if status == "resolved" and still_firing:
        lines.append(f":warning: Resolved in PagerDuty, still firing{incident}")
    elif status:
        who = f" · {responder}" if responder else ""
        lines.append(f":pager: PagerDuty: {status}{who}{incident}")
    if r.get("acked_by"):
        where = " in PagerDuty" if r.get("ack_source") == "pagerduty" else ""
        by = escape(str(r["acked_by"]))
        lines.append(f":eyes: Acknowledged{where} by {by} {_when(r.get('acked_at'))}".rstrip())
    if r.get("silenced_by"):
        by = escape(str(r["silenced_by"]))
        lines.append(f":no_bell: Silenced by {by} until {_when(r.get('silenced_until'))}")
    return lines


def _response_blocks(alert: AlertView) -> list[dict[str, Any]]:
    return response_context(response_lines(alert))


def response_context(lines: list[str]) -> list[dict[str, Any]]:
    """The response lines as one small-print block (none when there is nothing to say)."""
    if not lines:
        return []
    text = truncate("\n".join(lines), MAX_CONTEXT_ELEMENT_CHARS)
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}]


# Block Kit limits for interactive elements (https://api.slack.com/reference/block-kit).
MAX_ACTION_ELEMENTS = 25
MAX_OPTION_TEXT_CHARS = 75
MAX_PLACEHOLDER_CHARS = 150
ACTIONS_BLOCK_ID = "alert-actions"


def _choices(alert: AlertView) -> list[str]:
    """What can still be done: Acknowledge only for a page nobody acknowledged yet."""
    acked = bool((alert.response or {}).get("acked_by"))
    return ([ACK] if alert.paged and not acked else []) + list(SILENCES)


def _option(alert: AlertView, choice: str) -> dict[str, Any]:
    assert alert.alert_id is not None
    label = truncate_plain(CHOICE_LABELS[choice], MAX_OPTION_TEXT_CHARS)
    return {
        "text": {"type": "plain_text", "text": label},
        "value": button_value(choice, alert.alert_id, alert.starts_at),
    }


def _menu(action_id: str, placeholder: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {
            "type": "plain_text",
            "text": truncate_plain(placeholder, MAX_PLACEHOLDER_CHARS),
        },
        "options": options,
    }


def single_actions(alert: AlertView) -> list[dict[str, Any]]:
    """Acknowledge (a page) and a Silence menu; none for a resolved alert."""
    if alert.alert_id is None or alert.status == "resolved":
        return []
    elements: list[dict[str, Any]] = []
    choices = _choices(alert)
    if ACK in choices:
        elements.append(
            {
                "type": "button",
                "action_id": ACTION_ACK,
                "style": "primary",
                "text": {"type": "plain_text", "text": CHOICE_LABELS[ACK]},
                "value": button_value(ACK, alert.alert_id, alert.starts_at),
            }
        )
    silences = [_option(alert, c) for c in choices if c != ACK]
    elements.append(_menu(ACTION_SILENCE, "Silence…", silences))
    return [{"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": elements}]


def group_actions(alerts: list[AlertView]) -> list[dict[str, Any]]:
    """One menu per firing alert (Acknowledge and the Silence choices), up to Slack's 25."""
    menus = [
        _menu(
            f"act-{i}",
            f"{a.name} on {a.where}" if a.where else a.name,
            [_option(a, c) for c in _choices(a)],
        )
        for i, a in enumerate(alerts)
        if a.alert_id is not None and a.status != "resolved"
    ][:MAX_ACTION_ELEMENTS]
    if not menus:
        return []
    return [{"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": menus}]
