"""The overview's view model: one card per node, worst first, and the bridge's health (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.console.timefmt import local, stamp
from bridge.notify.view import SEVERITY_ORDER, AlertView
from bridge.routing import PAGERDUTY, SLACK
from bridge.store.read_model import FiringAlert, NodeSeen, TriggerOutcome

# A card lists this many alerts; the rest are counted ("and 12 more") and one click away.
MAX_LINES_PER_CARD = 5
# A node's card can be opened to list every firing alert of that node, up to this many.
MAX_LINES_ONE_NODE = 500
# Alert lines on the whole overview, about: when hundreds of nodes fire at once the cards
# list fewer each (down to the worst one) and count the rest, so that the page stays
# quick to draw (each line is a row of the page, its deliveries read and its texts
# parsed) and to take in. Below OVERVIEW_LINES / MAX_LINES_PER_CARD busy nodes (30),
# nothing changes.
OVERVIEW_LINES = 150
# Outbox rows waiting beyond this many look like a backlog rather than a moment's work.
BACKLOG_WARNING = 100
NO_NODE_TITLE = "No node label"


def severity_rank(severity: str) -> int:
    """0 for critical, larger for milder; unknown severities after every known one."""
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else len(SEVERITY_ORDER)


@dataclass(frozen=True)
class AlertLine:
    fingerprint: str
    name: str
    severity: str
    where: str
    fact: str
    since: str
    sent: str
    sent_state: str  # ok | pending | dead | muted | none
    # Silenced or inhibited in Alertmanager (bridge/reconcile): no page, no reminder.
    muted: str = ""


@dataclass(frozen=True)
class SeverityCount:
    severity: str
    count: int


@dataclass(frozen=True)
class NodeCard:
    node: str
    title: str
    worst: str  # a severity, or "ok" for a quiet node
    counts: tuple[SeverityCount, ...]
    lines: tuple[AlertLine, ...]
    more: int
    quiet: str


_CHANNEL_WORDS = {
    PAGERDUTY: {
        "delivered": "paged",
        "dry_run": "page dry-run",
        "pending": "page queued",
        "in_flight": "paging…",
        "dead": "page failed",
    },
    SLACK: {
        "delivered": "in Slack",
        "dry_run": "Slack dry-run",
        "pending": "Slack queued",
        "in_flight": "posting to Slack…",
        "dead": "Slack failed",
    },
}
_STATE_OF_STATUS = {
    "delivered": "ok",
    "dry_run": "ok",
    "pending": "pending",
    "in_flight": "pending",
    "dead": "dead",
}
_STATE_ORDER = ("dead", "pending", "ok")


def delivery_summary(alert: FiringAlert, outcomes: Sequence[TriggerOutcome]) -> tuple[str, str]:
    """`paged · in Slack` and the worst state among them; why nothing went out otherwise."""
    if not outcomes:
        if alert.suppressed:
            return "held by a maintenance window", "muted"
        if alert.flapping:
            return "flapping: notifications paused", "muted"
        return "recorded only (no route)", "none"
    ordered = sorted(outcomes, key=lambda o: (o.channel != PAGERDUTY, o.channel))
    words = [
        _CHANNEL_WORDS.get(o.channel, {}).get(o.status, f"{o.channel} {o.status}") for o in ordered
    ]
    states = {_STATE_OF_STATUS.get(o.status, "pending") for o in ordered}
    worst = next(s for s in (*_STATE_ORDER, *states) if s in states)
    return " · ".join(words), worst


def alert_line(
    alert: FiringAlert,
    outcomes: Sequence[TriggerOutcome],
    now: datetime,
    tz: ZoneInfo,
    muted: str = "",
) -> AlertLine:
    view = AlertView(
        alert.fingerprint, "firing", alert.labels, alert.annotations, alert.starts_at, None, ""
    )
    context_key = next((o.context_key for o in outcomes if o.context_key), "")
    sent, state = delivery_summary(alert, outcomes)
    return AlertLine(
        fingerprint=alert.fingerprint,
        name=alert.alertname or view.name,
        severity=alert.severity or "unknown",
        where=f"GPU {view.gpu}" if view.gpu else "",
        fact=view.fact_with(context_key),
        since=stamp(alert.starts_at, tz, now),
        sent=sent,
        sent_state=state,
        muted=muted,
    )


def _line_order(alert: FiringAlert) -> tuple[int, float]:
    """Worst severity first; within one, the newest first."""
    return severity_rank(alert.severity), -alert.starts_at.timestamp()


def group_by_node(firing: Iterable[FiringAlert]) -> dict[str, list[FiringAlert]]:
    nodes: dict[str, list[FiringAlert]] = defaultdict(list)
    for alert in firing:
        nodes[alert.node].append(alert)
    for alerts in nodes.values():
        alerts.sort(key=_line_order)
    return nodes


def lines_per_card(firing: Iterable[FiringAlert], one_node: bool = False) -> int:
    """How many alerts each card lists: fewer when many nodes fire, never none."""
    if one_node:
        return MAX_LINES_ONE_NODE
    busy_nodes = len({a.node for a in firing})
    return max(1, min(MAX_LINES_PER_CARD, OVERVIEW_LINES // max(1, busy_nodes)))


def shown_alerts(
    firing: Iterable[FiringAlert], per_card: int = MAX_LINES_PER_CARD
) -> list[FiringAlert]:
    """The alerts the cards list, so that only their deliveries need reading."""
    return [a for alerts in group_by_node(firing).values() for a in alerts[:per_card]]


def quiet_text(last_change: datetime | None, now: datetime, tz: ZoneInfo) -> str:
    if last_change is None:
        return "All quiet"
    return f"All quiet since {local(last_change, tz, now)}"


def build_cards(
    firing: Sequence[FiringAlert],
    seen: Sequence[NodeSeen],
    outcomes: Sequence[TriggerOutcome],
    now: datetime,
    tz: ZoneInfo,
    per_card: int = MAX_LINES_PER_CARD,
    muted: Mapping[str, str] | None = None,
) -> list[NodeCard]:
    """Firing nodes first, worst severity first, then the most alerts; quiet nodes after."""
    by_alert: dict[int, list[TriggerOutcome]] = defaultdict(list)
    for outcome in outcomes:
        by_alert[outcome.alert_id].append(outcome)
    cards = []
    for node, alerts in group_by_node(firing).items():
        counts: dict[str, int] = defaultdict(int)
        for alert in alerts:
            counts[alert.severity or "unknown"] += 1
        ordered = sorted(counts.items(), key=lambda item: severity_rank(item[0]))
        cards.append(
            NodeCard(
                node=node,
                title=node or NO_NODE_TITLE,
                worst=ordered[0][0],
                counts=tuple(SeverityCount(s, n) for s, n in ordered),
                lines=tuple(
                    alert_line(a, by_alert[a.id], now, tz, (muted or {}).get(a.fingerprint, ""))
                    for a in alerts[:per_card]
                ),
                more=max(0, len(alerts) - per_card),
                quiet="",
            )
        )
    cards.sort(key=lambda c: (severity_rank(c.worst), -sum(n.count for n in c.counts), c.node))
    firing_nodes = {c.node for c in cards}
    for quiet in sorted(seen, key=lambda s: s.node):
        if quiet.node not in firing_nodes and quiet.node:
            cards.append(
                NodeCard(
                    node=quiet.node,
                    title=quiet.node,
                    worst="ok",
                    counts=(),
                    lines=(),
                    more=0,
                    quiet=quiet_text(quiet.last_change_at, now, tz),
                )
            )
    return cards


def headline(
    firing: Sequence[FiringAlert],
    seen: Sequence[NodeSeen],
    now: datetime,
    tz: ZoneInfo,
    started_at: datetime,
    node: str | None = None,
) -> str:
    """The sentence at the top: what fires, or since when nothing has (on `node` if given)."""
    if firing:
        nodes = {a.node for a in firing}
        alerts = "1 alert" if len(firing) == 1 else f"{len(firing)} alerts"
        where = "1 node" if len(nodes) == 1 else f"{len(nodes)} nodes"
        return f"{alerts} firing on {where}"
    if not seen and node is not None:
        return "No alert recorded for this node"
    if not seen:
        return f"No alerts received yet (bridge up since {local(started_at, tz, now)})"
    return quiet_text(max(s.last_change_at for s in seen), now, tz)


# --- the bridge's own health ------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One reachability check of a configured URL (never a URL from a payload)."""

    name: str
    url: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class HealthItem:
    name: str
    state: str  # ok | warn | bad
    text: str
    href: str = ""


def build_health(
    database_ok: bool,
    probes: Sequence[Probe],
    outbox: Mapping[str, int],
    watchdog_last_seen: datetime | None,
    now: datetime,
    tz: ZoneInfo,
    watchdog_timeout: timedelta,
    delivery_down: str | None = None,
) -> list[HealthItem]:
    items = [
        HealthItem(
            "Database",
            "ok" if database_ok else "bad",
            "reachable" if database_ok else "unreachable: pages show nothing new",
        ),
        # Why nothing is delivered, when that is so (bridge/supervisor.py).
        HealthItem(
            "Delivery",
            "bad" if delivery_down else "ok",
            f"stopped: {delivery_down}" if delivery_down else "running",
        ),
    ]
    for probe in probes:
        items.append(HealthItem(probe.name, "ok" if probe.ok else "bad", probe.detail, probe.url))
    pending = outbox.get("pending", 0) + outbox.get("in_flight", 0)
    items.append(
        HealthItem(
            "Outbox",
            "warn" if pending >= BACKLOG_WARNING else "ok",
            f"{pending} waiting" if pending else "empty",
            "/deliveries?status=pending",
        )
    )
    dead = outbox.get("dead", 0)
    items.append(
        HealthItem(
            "Dead letters",
            "bad" if dead else "ok",
            f"{dead} to look at" if dead else "none",
            "/deliveries?status=dead",
        )
    )
    if watchdog_last_seen is None:
        items.append(HealthItem("Watchdog", "warn", "never seen"))
    else:
        overdue = now - watchdog_last_seen >= watchdog_timeout
        items.append(
            HealthItem(
                "Watchdog",
                "bad" if overdue else "ok",
                f"last seen {stamp(watchdog_last_seen, tz, now)}",
            )
        )
    return items
