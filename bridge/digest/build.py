"""A summary as Slack Block Kit (pure): facts in, (fallback text, blocks) out.

Every list is capped and every text cut with a marker, so the message stays
within Slack's limits whatever the period held (limits and their vendor links:
bridge/notify/slack_blocks.py). Times are shown in BRIDGE_TIMEZONE rather than
Slack's per-reader dates because the same text is printed by the CLI.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bridge.digest.facts import DigestFacts, FiringAlert, WindowFact
from bridge.durations import format_duration
from bridge.notify.mrkdwn import escape, truncate
from bridge.notify.slack_blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_CHARS,
    MAX_FIELDS,
    MAX_HEADER_CHARS,
    MAX_SECTION_CHARS,
)

# Slack: a section field holds at most 2000 characters.
MAX_FIELD_CHARS = 2000
# A context block's text element, kept to one readable line.
MAX_CONTEXT_CHARS = 300
# How much of each list a summary shows; the rest is counted, not listed.
MAX_NODES = 20
MAX_ALERTNAMES = 15
MAX_NOISIEST = 5
MAX_FAILED = 5
MAX_WINDOWS = 5
MAX_LINE_CHARS = 400
# Sent this long after its slot, a summary says it is late (the bridge was down).
LATE_AFTER = timedelta(minutes=10)

SEVERITY_ORDER = ("critical", "warning", "info")
# The terminal shows titles and field labels without mrkdwn bold.
_BOLD_LINE = re.compile(r"^\*([^*\n]+)\*$", re.MULTILINE)
_BOLD_LABEL = re.compile(r"^\*([^*\n]+)\*\n")


def build_digest(facts: DigestFacts, timezone: str) -> tuple[str, list[dict[str, Any]]]:
    """The Slack message for `facts`: fallback text (notifications) and blocks."""
    tz = ZoneInfo(timezone)
    if facts.quiet:
        return _quiet(facts, tz)
    span = f"{_time(facts.start, tz)} – {_time(facts.end, tz)}"
    blocks: list[dict[str, Any]] = [
        _header(f"📊 Alert summary {span}"),
        _context(_about(facts, tz)),
        _fields(_numbers(facts)),
    ]
    blocks += _sections("*Firing now, by node*", _firing_lines(facts, tz))
    blocks += _sections("*Fired and resolved, by alert*", _alertname_lines(facts))
    blocks += _sections("*Noisiest*", _noisy_lines(facts))
    blocks += _sections("*Failed deliveries*", _failed_lines(facts, tz))
    blocks += _sections("*Maintenance windows*", _window_lines(facts, tz))
    return truncate(f"Alert summary {span}: {_headline(facts)}", MAX_FALLBACK_CHARS), _cap(blocks)


def as_text(blocks: Sequence[dict[str, Any]]) -> str:
    """Plain text of a message's blocks, for the terminal (`alert-bridge digest`)."""
    lines: list[str] = []
    for block in blocks:
        if block["type"] == "header":
            lines += [block["text"]["text"], ""]
        elif block["type"] == "context":
            lines += [e["text"] for e in block["elements"]] + [""]
        elif block["type"] == "section":
            if "text" in block:
                lines.append(_BOLD_LINE.sub(r"\1", block["text"]["text"]))
            lines += [_BOLD_LABEL.sub(r"\1: ", f["text"]) for f in block.get("fields", [])]
            lines.append("")
    text = "\n".join(lines).strip() + "\n"
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _quiet(facts: DigestFacts, tz: ZoneInfo) -> tuple[str, list[dict[str, Any]]]:
    between = f"between {_time(facts.start, tz)} and {_time(facts.end, tz)} ({tz.key})"
    body = f"No alerts fired or resolved {between}, and nothing is firing now."
    windows = _window_summary(facts, tz)
    if windows:
        body += f"\n{windows}"
    blocks = [_header("✅ All quiet"), _section(body)]
    late = _late(facts)
    if late:
        blocks.append(_context(late))
    return f"All quiet: no alerts {between}.", blocks


def _window_summary(facts: DigestFacts, tz: ZoneInfo) -> str:
    parts = []
    if facts.active_windows:
        parts.append(f"{len(facts.active_windows)} active")
    if facts.upcoming_windows:
        first = facts.upcoming_windows[0]
        parts.append(f"{len(facts.upcoming_windows)} upcoming (next {_time(first.starts_at, tz)})")
    return f"Maintenance windows: {', '.join(parts)}." if parts else ""


def _about(facts: DigestFacts, tz: ZoneInfo) -> str:
    period = format_duration((facts.end - facts.start).total_seconds())
    parts = [f"Period {period}", f"times in {tz.key}"]
    late = _late(facts)
    if late:
        parts.append(late)
    return " · ".join(parts)


def _late(facts: DigestFacts) -> str:
    late = facts.now - facts.end
    if late < LATE_AFTER:
        return ""
    return f"sent {format_duration(late.total_seconds())} late: the bridge was not running"


def _headline(facts: DigestFacts) -> str:
    parts = [
        f"{facts.firing_total} firing now",
        f"{facts.fired} fired",
        f"{facts.resolved} resolved",
        f"{facts.pages_sent} {_plural(facts.pages_sent, 'page')}",
    ]
    if facts.failed_total:
        parts.append(f"{facts.failed_total} failed {_plural(facts.failed_total, 'delivery')}")
    return ", ".join(parts)


def _numbers(facts: DigestFacts) -> list[str]:
    mttr = facts.mean_resolve_seconds
    mtta = facts.mean_ack_seconds
    pages = str(facts.pages_sent)
    if facts.pages_dry_run:
        pages += f" (+{facts.pages_dry_run} dry-run)"
    failed = str(facts.failed_total)
    if facts.retrying:
        failed += f" ({facts.retrying} retrying now)"
    return [
        f"*Firing now*\n{facts.firing_total}",
        f"*Fired*\n{facts.fired}",
        f"*Resolved*\n{facts.resolved}",
        f"*Mean time to resolve*\n{format_duration(mttr) if mttr is not None else '–'}",
        f"*Mean time to acknowledge*\n{format_duration(mtta) if mtta is not None else '–'}",
        f"*Pages sent*\n{pages}",
        f"*Failed deliveries*\n{failed}",
    ]


def _firing_lines(facts: DigestFacts, tz: ZoneInfo) -> list[str]:
    by_node: dict[str, list[FiringAlert]] = defaultdict(list)
    for alert in facts.firing:
        by_node[alert.node].append(alert)
    lines = []
    for node in sorted(by_node)[:MAX_NODES]:
        items = ", ".join(_firing_item(group, facts.now) for group in _by_alertname(by_node[node]))
        lines.append(f"{_esc(node) or '(no node)'}: {items}")
    hidden_nodes = len(by_node) - MAX_NODES
    if hidden_nodes > 0:
        lines.append(f"…and {hidden_nodes} more {_plural(hidden_nodes, 'node')}")
    unread = facts.firing_total - len(facts.firing)
    if unread > 0:
        lines.append(f"…and {unread} more firing {_plural(unread, 'alert')} (see /alerts)")
    return lines


def _by_alertname(alerts: list[FiringAlert]) -> list[list[FiringAlert]]:
    groups: dict[str, list[FiringAlert]] = defaultdict(list)
    for alert in alerts:
        groups[alert.alertname].append(alert)
    return [groups[name] for name in sorted(groups)]


def _firing_item(group: list[FiringAlert], now: datetime) -> str:
    first = group[0]
    count = f" ×{len(group)}" if len(group) > 1 else ""
    oldest = min(a.since for a in group)
    notes = [_worst_severity(group), f"for {format_duration((now - oldest).total_seconds())}"]
    if any(a.in_maintenance for a in group):
        notes.append("in maintenance")
    if any(a.flapping for a in group):
        notes.append("flapping")
    return f"{_esc(first.alertname)}{count} ({', '.join(n for n in notes if n)})"


def _worst_severity(group: list[FiringAlert]) -> str:
    severities = {a.severity for a in group}
    for severity in SEVERITY_ORDER:
        if severity in severities:
            return severity
    return _esc(sorted(severities)[0])


def _alertname_lines(facts: DigestFacts) -> list[str]:
    lines = []
    for stats in facts.alertnames[:MAX_ALERTNAMES]:
        line = f"• {_esc(stats.alertname)}: fired {stats.fired}, resolved {stats.resolved}"
        if stats.mean_resolve_seconds is not None:
            line += f", resolved in {format_duration(stats.mean_resolve_seconds)} on average"
        if stats.mean_ack_seconds is not None:
            line += (
                f", acknowledged {stats.acknowledged}"
                f" in {format_duration(stats.mean_ack_seconds)} on average"
            )
        lines.append(line)
    hidden = len(facts.alertnames) - MAX_ALERTNAMES
    if hidden > 0:
        lines.append(f"…and {hidden} more {_plural(hidden, 'alert')}")
    return lines


def _noisy_lines(facts: DigestFacts) -> list[str]:
    return [
        f"{i}. {_esc(n.alertname)}{_on(n.node)}: fired {n.fired} times"
        for i, n in enumerate(facts.noisiest[:MAX_NOISIEST], start=1)
    ]


def _failed_lines(facts: DigestFacts, tz: ZoneInfo) -> list[str]:
    lines = [
        f"• {_time(f.at, tz)} {f.channel} {f.action} of {_esc(f.alertname)}{_on(f.node)}: "
        f"{_esc(f.error) or 'no detail'}"
        for f in facts.failed[:MAX_FAILED]
    ]
    hidden = facts.failed_total - len(lines)
    if hidden > 0:
        lines.append(f"…and {hidden} more (see /alerts)")
    return lines


def _window_lines(facts: DigestFacts, tz: ZoneInfo) -> list[str]:
    lines = [
        f"• now: {_window(w, tz, active=True)}" for w in facts.active_windows[:MAX_WINDOWS]
    ] + [
        f"• upcoming: {_window(w, tz, active=False)}" for w in facts.upcoming_windows[:MAX_WINDOWS]
    ]
    hidden = max(0, len(facts.active_windows) - MAX_WINDOWS) + max(
        0, len(facts.upcoming_windows) - MAX_WINDOWS
    )
    if hidden:
        lines.append(f"…and {hidden} more (alert-bridge silence list)")
    return lines


def _window(window: WindowFact, tz: ZoneInfo, *, active: bool) -> str:
    when = (
        f"until {_time(window.ends_at, tz)}"
        if active
        else f"{_time(window.starts_at, tz)} – {_time(window.ends_at, tz)}"
    )
    recurring = f", recurring {window.cron}" if window.cron else ""
    return (
        f"{_esc(window.matchers)} {when}{recurring}: "
        f"{_esc(window.comment)} ({_esc(window.created_by)})"
    )


def _on(node: str) -> str:
    return f" on {_esc(node)}" if node else ""


def _plural(n: int, word: str) -> str:
    if n == 1:
        return word
    return word[:-1] + "ies" if word.endswith("y") else word + "s"


def _time(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%a %d %b %H:%M")


# Slack mrkdwn: alert text is escaped on the one path every message uses.
_esc = escape


def _header(text: str) -> dict[str, Any]:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": truncate(text, MAX_HEADER_CHARS), "emoji": True},
    }


def _context(text: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": truncate(text, MAX_CONTEXT_CHARS)}],
    }


def _section(text: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_CHARS)},
    }


def _fields(fields: list[str]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": truncate(f, MAX_FIELD_CHARS)} for f in fields[:MAX_FIELDS]
        ],
    }


def _sections(title: str, lines: Iterable[str]) -> list[dict[str, Any]]:
    """`title` and `lines` as as few sections as fit Slack's per-section limit."""
    blocks: list[dict[str, Any]] = []
    chunk = [title]
    for line in (truncate(raw, MAX_LINE_CHARS) for raw in lines):
        if len("\n".join([*chunk, line])) > MAX_SECTION_CHARS:
            blocks.append(_section("\n".join(chunk)))
            chunk = []
        chunk.append(line)
    if len(chunk) > 1 or blocks:
        blocks.append(_section("\n".join(chunk)))
    return blocks


def _cap(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    dropped = len(blocks) - (MAX_BLOCKS - 1)
    return [*blocks[: MAX_BLOCKS - 1], _context(f"… [truncated: {dropped} more blocks]")]
