"""Every statement on a hot path reads `alerts`, the outbox and the attempts by an index.

Issue 23: the exact-repeat UPDATE matched `(fingerprint, starts_at, status) IN (VALUES …)`,
which SQLite answered with `SCAN alerts`: every repeat request read the whole table, and
nothing noticed because every test and bench started from an empty database.

Each test seeds a small fleet's history (tests/support/history.py), runs one hot path
through the real code (the webhook, the delivery worker, the console, the jobs) while a
`before_cursor_execute` listener records every statement, then asks the database for the
plan of each: `EXPLAIN QUERY PLAN` on SQLite (no statistics, as in production, where
nothing runs ANALYZE), `EXPLAIN (FORMAT JSON)` on PostgreSQL (the seeded tables analysed,
as autovacuum would). A full scan of a big table fails the test and prints the statement
and its plan. A new hot path is one more entry in HOT_PATHS.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import requests.adapters
from flask import Flask
from sqlalchemy import Engine, event, text

from bridge.app import create_app
from bridge.db.engine import read_connection
from bridge.db.models import Base
from bridge.digest.facts import read_facts
from bridge.reconcile.job import Reconciler
from bridge.scheduler import INTERVALS, run_job
from bridge.settings import Settings
from bridge.store import Store
from bridge.store.scheduled import purge_old
from tests.support.bridge_app import ctx, deliver_until_settled, post_alerts
from tests.support.canned_alertmanager import CannedAlertmanager
from tests.support.history import Fleet, seed_history
from tests.support.payloads import alert, payload, resolved

# Big enough that PostgreSQL's planner prefers an index wherever one serves (a few
# thousand rows per table), small enough to seed in well under a second.
FLEET = Fleet(nodes=30, alerts=4_000, deliveries_per_alert=4, firing=100, storms=5)
BIG_TABLES = ("alerts", "deliveries", "delivery_attempts")
# Reading all of a partial index is reading the rows in one state (the live queue, the
# alerts flapping now), not the history: allowed.
PARTIAL_INDEXES = frozenset(
    index.name
    for table in BIG_TABLES
    for index in Base.metadata.tables[table].indexes
    if index.dialect_options["sqlite"]["where"] is not None and index.name
)
# SQLite's plan names a table by its alias when it has one (`alerts_1`, `a`).
_ALIAS = re.compile(
    r"\b(?:FROM|JOIN)\s+(?:%s)(?:\s+INDEXED\s+BY\s+\w+)?\s+(?:AS\s+)?(\w+)"  # noqa: UP031
    % "|".join(BIG_TABLES),
    re.IGNORECASE,
)
_NOT_ALIASES = frozenset(
    [
        "WHERE",
        "JOIN",
        "ON",
        "LEFT",
        "RIGHT",
        "INNER",
        "OUTER",
        "CROSS",
        "GROUP",
        "ORDER",
        "LIMIT",
        "SET",
        "USING",
        "UNION",
    ]
)
_SQLITE_SCAN = re.compile(r"\bSCAN (?:TABLE )?(\w+)(?: USING (?:COVERING )?INDEX (\w+))?")


def _sqlite_scans(sql: str, plan: str) -> list[str]:
    names = set(BIG_TABLES) | {
        alias for alias in _ALIAS.findall(sql) if alias.upper() not in _NOT_ALIASES
    }
    return [
        name
        for name, index in _SQLITE_SCAN.findall(plan)
        if name in names and index not in PARTIAL_INDEXES
    ]


_NOT_PLANNED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SET", "SHOW")


@dataclass(frozen=True)
class Statement:
    sql: str
    params: Any


@dataclass(frozen=True)
class HotPath:
    app: Flask
    engine: Engine
    now: datetime


def _ingest(hot: HotPath) -> None:
    """New alerts, the same payload again (exact repeats), a resolve, a re-fire."""
    alerts = [alert(node=f"dgx-spark-{n:02d}", fingerprint=f"plan-{n}") for n in range(5)]
    post_alerts(hot.app, payload(*alerts))
    post_alerts(hot.app, payload(*alerts))
    post_alerts(hot.app, payload(*alerts))
    post_alerts(hot.app, payload(resolved(alerts[0])))
    post_alerts(hot.app, payload({**alerts[0], "startsAt": "2026-11-28T04:00:00Z"}))


def _exact_repeats(hot: HotPath) -> None:
    body = payload(*(alert(node=f"dgx-spark-{n:02d}", fingerprint=f"rep-{n}") for n in range(10)))
    post_alerts(hot.app, body)
    for _ in range(3):
        assert post_alerts(hot.app, body)["duplicates"] == 10


def _outbox(hot: HotPath) -> None:
    """Claim and completion: the delivery worker drains what a webhook queued."""
    post_alerts(hot.app, payload(*(alert(node=f"n-{n}", fingerprint=f"ob-{n}") for n in range(6))))
    deliver_until_settled(hot.app)


def _storm(hot: HotPath) -> None:
    """One alert name changing state often enough to storm, then folding."""
    for n in range(14):
        post_alerts(hot.app, payload(alert("XidStorm", node=f"s-{n}", fingerprint=f"storm-{n}")))
    deliver_until_settled(hot.app)


def _console(hot: HotPath) -> None:
    client = hot.app.test_client()
    assert client.get("/").status_code == 200


def _scrapes(hot: HotPath) -> None:
    """What Prometheus and the orchestrator poll all day."""
    client = hot.app.test_client()
    for path in ("/metrics", "/readyz", "/healthz"):
        client.get(path)


def _summary(hot: HotPath) -> None:
    with read_connection(hot.engine) as conn:
        read_facts(conn, hot.now - timedelta(days=1), hot.now, hot.now)


def _jobs(hot: HotPath) -> None:
    """Every scheduled job once (windows, held alerts, reminders, storms, retention...)."""
    for name, (job, _seconds) in INTERVALS.items():
        assert run_job(name, job, ctx(hot.app)), name


def _retention(hot: HotPath) -> None:
    """A day's worth of history purged (the oldest day of the seeded 30)."""
    counts = purge_old(hot.engine, hot.now - timedelta(days=FLEET.days - 1))
    assert counts["deliveries"] and counts["alerts"], counts


def _reconcile(hot: HotPath) -> None:
    """Rounds against an Alertmanager that lists all but five of the firing alerts and one
    the bridge never heard of: the five resolve after two rounds, the new one is ingested."""
    with read_connection(hot.engine) as conn:
        listed = conn.execute(
            text(
                "SELECT fingerprint, labels, starts_at FROM alerts WHERE status = 'firing' "
                "ORDER BY id"
            )
        ).all()[5:]
    am_alerts = [
        {
            "fingerprint": fingerprint,
            "labels": labels if isinstance(labels, dict) else json.loads(labels),
            "annotations": {},
            "startsAt": "2026-11-28T03:00:00Z",
            "endsAt": "2099-01-01T00:00:00Z",
            "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
            "receivers": [{"name": "alert-bridge"}],
        }
        for fingerprint, labels, _starts in listed
    ]
    am_alerts.append({**am_alerts[0], "fingerprint": "plan-unknown-to-the-bridge"})
    session = requests.Session()
    session.mount("http://", CannedAlertmanager(am_alerts))
    reconciler = Reconciler(ctx(hot.app), "plan-test", session=session)
    for _ in range(3):
        reconciler.request()  # at once, not after the round spacing
        reconciler.run()


HOT_PATHS: dict[str, Callable[[HotPath], None]] = {
    "ingest": _ingest,
    "exact_repeats": _exact_repeats,
    "outbox": _outbox,
    "storm": _storm,
    "console_overview": _console,
    "scrapes": _scrapes,
    "summary": _summary,
    "scheduled_jobs": _jobs,
    "retention": _retention,
    "reconcile": _reconcile,
}


@contextmanager
def _recorded(engine: Engine) -> Iterator[list[Statement]]:
    seen: list[Statement] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, *_: Any) -> None:
        if sql.lstrip().upper().startswith(_NOT_PLANNED):
            return
        # executemany: a list of parameter sets (one is enough for a plan); SQLAlchemy's
        # "insertmanyvalues" batches say executemany with one flat set.
        seen.append(Statement(sql, params[0] if isinstance(params, list) and params else params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _explain(engine: Engine, prefix: str, statement: Statement) -> list[Any]:
    """Run EXPLAIN on the driver's cursor with the driver's own parameters, as recorded."""
    with read_connection(engine) as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(prefix + statement.sql, statement.params)
            return list(cursor.fetchall())
        finally:
            cursor.close()


def _full_scans(engine: Engine, statement: Statement) -> tuple[list[str], str]:
    """The big tables the statement reads whole, and its plan."""
    if engine.dialect.name == "sqlite":
        plan = "\n".join(str(row[-1]) for row in _explain(engine, "EXPLAIN QUERY PLAN ", statement))
        return _sqlite_scans(statement.sql, plan), plan
    ((document,),) = _explain(engine, "EXPLAIN (FORMAT JSON) ", statement)
    tree = document if isinstance(document, list) else json.loads(document)
    return _postgres_scans(tree[0]["Plan"]), json.dumps(tree[0]["Plan"], indent=1)


def _postgres_scans(node: dict[str, Any], limited: bool = False) -> list[str]:
    """Seq Scans of a big table, and index scans with no condition (the whole index in
    its order), unless a Limit above stops them early."""
    found = []
    if node.get("Relation Name") in BIG_TABLES:
        kind = node["Node Type"]
        whole_index = (
            kind in ("Index Scan", "Index Only Scan")
            and "Index Cond" not in node
            and node.get("Index Name") not in PARTIAL_INDEXES
        )
        if kind == "Seq Scan" or (whole_index and not limited):
            found.append(f"{kind} on {node['Relation Name']}")
    for child in node.get("Plans", []):
        found += _postgres_scans(child, limited or node["Node Type"] == "Limit")
    return found


@pytest.fixture
def hot_path(engine: Engine, settings: Settings) -> HotPath:
    now = datetime.now(UTC)
    seed_history(engine, FLEET, now)
    # No request may leave the machine: Alertmanager on a closed port. PagerDuty pacing
    # on, as `serve` has it by default: the delivery worker then counts recent attempts.
    quiet = replace(settings, alertmanager_urls=("http://127.0.0.1:1",))
    app = create_app(quiet, store=Store(engine, quiet.pagerduty_events_per_minute))
    app.testing = True
    return HotPath(app, engine, now)


@pytest.mark.parametrize("name", list(HOT_PATHS))
def test_hot_path_statements_use_an_index(name: str, hot_path: HotPath) -> None:
    with _recorded(hot_path.engine) as statements:
        HOT_PATHS[name](hot_path)
    assert statements, f"{name} sent no statement"
    offenders = []
    for statement in {s.sql: s for s in statements}.values():
        scans, plan = _full_scans(hot_path.engine, statement)
        if scans:
            offenders.append(f"--- {', '.join(scans)}\n{statement.sql}\n--- plan:\n{plan}")
    assert not offenders, f"{len(offenders)} statement(s) of {name} read a whole table:\n" + (
        "\n\n".join(offenders)
    )
