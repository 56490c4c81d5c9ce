"""A claim reads the few rows it takes, not the whole backlog, on both databases.

A storm leaves thousands of pending rows (PagerDuty's paced queue). Right after
it, the tables have no fresh statistics, so the planner's choice is what the
indexes allow: a claim whose ORDER BY the pending index does not fully provide
sorts every pending row of the channel on each claim (23 ms per claim on
PostgreSQL behind 10,000 rows). These tests run a real claim, catch the
candidate queries it sends, and ask the database how it would run them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, event

from bridge.alerts import parse_payload
from bridge.routing import Routing
from bridge.store import Store
from tests.support.payloads import alert, payload

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
BACKLOG_POSTS = 20
ALERTS_PER_POST = 100


def _fill_backlog(store: Store) -> None:
    for post in range(BACKLOG_POSTS):
        alerts = [
            alert(node=f"node-{post}-{n}", fingerprint=f"fp-{post}-{n}")
            for n in range(ALERTS_PER_POST)
        ]
        store.ingest(parse_payload(payload(*alerts)), Routing(), NOW)


def _candidate_queries(engine: Engine, store: Store) -> list[tuple[str, Any]]:
    """The queue queries a claim sends (statement and driver parameters)."""
    seen: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if (
            "FROM deliveries" in statement
            and "ORDER BY deliveries.priority, deliveries.next_attempt_at" in statement
        ):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        jobs = store.claim("plan-test", NOW, limit=4)
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    assert jobs, "the claim should have found due rows"
    return seen


def _plan(engine: Engine, statement: str, params: Any) -> str:
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(explain + statement, params).all()
    return "\n".join(str(row[-1]) for row in rows)


def test_claiming_from_a_large_backlog_never_sorts_the_backlog(
    engine: Engine, store: Store
) -> None:
    _fill_backlog(store)
    queries = _candidate_queries(engine, store)
    assert queries, "the claim sent no queue query"
    for statement, params in queries:
        plan = _plan(engine, statement, params)
        assert "ix_deliveries_pending" in plan, plan
        # PostgreSQL: a Sort node above the scan; SQLite: a temporary B-tree.
        assert "Sort" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan


def test_the_worker_finds_the_next_due_time_without_reading_the_backlog(
    engine: Engine, store: Store
) -> None:
    _fill_backlog(store)
    seen: list[tuple[str, Any]] = []

    def catch(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT deliveries.next_attempt_at"):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", catch)
    try:
        assert store.next_due(NOW) is not None
    finally:
        event.remove(engine, "before_cursor_execute", catch)
    assert seen, "next_due sent no query"
    for statement, params in seen:
        plan = _plan(engine, statement, params)
        # Every column before next_attempt_at in the index is fixed by the query, so the
        # earliest is the first index entry: no sort, no aggregate over the lane.
        assert "ix_deliveries_pending" in plan, plan
        assert "Sort" not in plan and "Aggregate" not in plan, plan
        assert "TEMP B-TREE" not in plan, plan
        if engine.dialect.name == "sqlite":
            assert "channel=? AND priority=?" in plan, plan
