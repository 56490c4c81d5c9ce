"""What the overview page reads, in one read transaction: the read model's firing alerts,
nodes and trigger outcomes, with the outbox depth and the Watchdog's last arrival."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from bridge.store.outbox import outbox_depth
from bridge.store.read_model import (
    FiringAlert,
    NodeSeen,
    TriggerOutcome,
    firing_alerts,
    nodes_seen,
    trigger_outcomes,
    with_texts,
)
from bridge.watchdog import last_watchdog


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
