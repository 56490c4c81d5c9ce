"""What the console pages read from the database: plain rows as dataclasses (the I/O edge).

Every function takes a connection from `Store.read()` (`read_connection`), so a page never
waits for the write lock the webhook and the worker take. Queries are bounded: a page
shows what a person can read, the counts say how much more there is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from bridge.db.models import ALERTS, ATTEMPTS, DELIVERIES, TRANSITIONS
from bridge.digest.facts import ALWAYS_FIRING
from bridge.enrich.render import key_fact
from bridge.store.outbox import outbox_depth
from bridge.watchdog import last_watchdog

# Bounds of one page (rows read, not rows in the database).
MAX_DELIVERIES_LISTED = 200
MAX_TRANSITIONS_LISTED = 100
MAX_ATTEMPTS_PER_DELIVERY = 50


@dataclass(frozen=True)
class FiringAlert:
    id: int
    fingerprint: str
    alertname: str
    severity: str
    node: str
    annotations: dict[str, str]
    labels: dict[str, str]
    starts_at: datetime
    suppressed: bool
    flapping: bool


@dataclass(frozen=True)
class NodeSeen:
    """A node the bridge has had alerts for, and when any of them last changed."""

    node: str
    last_change_at: datetime
    firing: int


@dataclass(frozen=True)
class TriggerOutcome:
    """The newest trigger of an alert on one channel: did the page go out?"""

    alert_id: int
    channel: str
    status: str
    context_key: str


def firing_alerts(conn: Connection) -> list[FiringAlert]:
    """Every firing alert, without labels and annotations (`with_texts` adds them for the
    few a page lists: decoding a thousand JSON documents would be most of the page's time)."""
    a = ALERTS.c
    rows = conn.execute(
        select(
            a.id,
            a.fingerprint,
            a.alertname,
            a.severity,
            a.node,
            a.starts_at,
            a.suppressed_by,
            a.flapping_since,
        ).where(a.status == "firing", a.alertname.not_in(ALWAYS_FIRING))
    )
    return [
        FiringAlert(
            id=r.id,
            fingerprint=r.fingerprint,
            alertname=r.alertname,
            severity=r.severity,
            node=r.node,
            labels={},
            annotations={},
            starts_at=r.starts_at,
            suppressed=r.suppressed_by is not None,
            flapping=r.flapping_since is not None,
        )
        for r in rows
    ]


def with_texts(conn: Connection, alerts: list[FiringAlert]) -> list[FiringAlert]:
    """The same alerts with their labels and annotations read."""
    if not alerts:
        return []
    a = ALERTS.c
    texts = {
        r.id: (dict(r.labels or {}), dict(r.annotations or {}))
        for r in conn.execute(
            select(a.id, a.labels, a.annotations).where(a.id.in_([x.id for x in alerts]))
        )
    }
    return [
        replace(x, labels=texts[x.id][0], annotations=texts[x.id][1]) if x.id in texts else x
        for x in alerts
    ]


def nodes_seen(conn: Connection) -> list[NodeSeen]:
    a = ALERTS.c
    firing = func.sum(case((a.status == "firing", 1), else_=0))
    rows = conn.execute(
        select(a.node, func.max(a.last_change_at).label("last"), firing.label("firing"))
        .where(a.status != "", a.alertname.not_in(ALWAYS_FIRING))
        .group_by(a.node)
        .order_by(a.node)
    )
    return [NodeSeen(r.node, r.last, int(r.firing or 0)) for r in rows]


def trigger_outcomes(conn: Connection, alert_ids: list[int]) -> list[TriggerOutcome]:
    """The newest trigger per alert and channel, for the alerts a page shows."""
    if not alert_ids:
        return []
    d = DELIVERIES.c
    rows = conn.execute(
        select(d.alert_id, d.channel, d.status, d.context)
        .where(d.alert_id.in_(alert_ids), d.action == "trigger")
        .order_by(d.id)
    )
    newest: dict[tuple[int, str], TriggerOutcome] = {}
    for r in rows:
        context = r.context if isinstance(r.context, dict) else None
        newest[(r.alert_id, r.channel)] = TriggerOutcome(
            r.alert_id, r.channel, r.status, key_fact(context)
        )
    return list(newest.values())


@dataclass(frozen=True)
class OverviewFacts:
    """Everything the overview reads, in one read transaction."""

    firing: list[FiringAlert]  # those the cards list carry their labels and annotations
    seen: list[NodeSeen]
    outcomes: list[TriggerOutcome]
    outbox: dict[str, int]
    watchdog_last_seen: datetime | None


def overview_facts(
    conn: Connection, node: str | None, listed: Callable[[list[FiringAlert]], list[FiringAlert]]
) -> OverviewFacts:
    """`node`: that node only; `listed`: which alerts the page lists (their texts are read)."""
    firing = firing_alerts(conn)
    seen = nodes_seen(conn)
    if node is not None:
        firing = [a for a in firing if a.node == node]
        seen = [s for s in seen if s.node == node]
    shown = {a.id: a for a in with_texts(conn, listed(firing))}
    return OverviewFacts(
        firing=[shown.get(a.id, a) for a in firing],
        seen=seen,
        outcomes=trigger_outcomes(conn, list(shown)),
        outbox=outbox_depth(conn),
        watchdog_last_seen=last_watchdog(conn),
    )


# --- one alert ------------------------------------------------------------------------------


def alert_row(conn: Connection, fingerprint: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(ALERTS).where(ALERTS.c.fingerprint == fingerprint, ALERTS.c.status != "")
    ).one_or_none()
    return dict(row._mapping) if row is not None else None


def transitions(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    t = TRANSITIONS.c
    rows = conn.execute(
        select(t.status, t.reason, t.at, t.starts_at)
        .where(t.alert_id == alert_id)
        .order_by(t.id.desc())
        .limit(MAX_TRANSITIONS_LISTED)
    )
    return [dict(r._mapping) for r in rows]


def alert_deliveries(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    """Every delivery of the alert, newest first, each with its attempts (oldest first)."""
    d = DELIVERIES.c
    deliveries = [
        dict(r._mapping)
        for r in conn.execute(
            select(DELIVERIES).where(d.alert_id == alert_id).order_by(d.id.desc())
        )
    ]
    by_id: dict[int, list[dict[str, Any]]] = {row["id"]: [] for row in deliveries}
    if by_id:
        t = ATTEMPTS.c
        for a in conn.execute(
            select(ATTEMPTS).where(t.delivery_id.in_(list(by_id))).order_by(t.id)
        ):
            by_id[a.delivery_id].append(dict(a._mapping))
    for row in deliveries:
        row["attempt_log"] = by_id[row["id"]][-MAX_ATTEMPTS_PER_DELIVERY:]
    return deliveries


# --- deliveries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    status: str = ""
    channel: str = ""
    node: str = ""


def deliveries(conn: Connection, where: DeliveryFilter) -> list[dict[str, Any]]:
    """The newest deliveries matching the filter, with their alert's name and node.

    An outer join: a channel summary belongs to no alert, and a dead one must be listed
    with the other dead letters (the overview counts it) so that someone can retry it."""
    d, a = DELIVERIES.c, ALERTS.c
    query = (
        select(
            d.id,
            d.channel,
            d.action,
            d.status,
            d.attempts,
            d.created_at,
            d.finished_at,
            d.next_attempt_at,
            d.last_error,
            a.fingerprint,
            a.alertname,
            a.node,
            a.severity,
        )
        .outerjoin_from(DELIVERIES, ALERTS, d.alert_id == a.id)
        .order_by(d.id.desc())
        .limit(MAX_DELIVERIES_LISTED)
    )
    if where.status:
        query = query.where(d.status == where.status)
    if where.channel:
        query = query.where(d.channel == where.channel)
    if where.node:
        query = query.where(a.node == where.node)
    return [dict(r._mapping) for r in conn.execute(query)]
