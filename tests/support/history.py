"""Seed a migrated, empty database with a fleet's history, fast, in SQL.

Issue 23: every bench used to start from an empty database, so nothing noticed a
statement that reads the whole of `alerts` or the outbox. This fills the tables the way
30 days of a 300-node fleet would (resolved episodes, their transitions, a finished
outbox and its attempts, past maintenance windows and storms, a few alerts still
firing), with one `INSERT … SELECT` per table over a generated series of integers: a
million deliveries take seconds, not the hour the HTTP API would. The plan test
(tests/integration/test_query_plans.py) uses a small fleet, `bench/history.py` the full
one.

Rows get explicit ids (the tables must be empty), so the outbox rows and attempts can
name their alert and delivery without reading them back; PostgreSQL's sequences are
moved past them afterwards, and the tables analysed as autovacuum would.
"""

# Every statement here is built from this module's constants and integers, never input.
# ruff: noqa: S608

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, text

ALERTNAMES = (
    "GPUTemperatureCritical",
    "GPUTemperatureHigh",
    "NodeMemoryPressure",
    "DiskAlmostFull",
    "XidErrors",
    "NodeExporterDown",
)
EPISODE_SECONDS = 600  # a resolved episode lasted 10 minutes
WINDOW_SECONDS = 2 * 3600
# SQL string literals of JSON documents.
ANNOTATIONS = """'{"summary": "seeded history"}'"""
CHANNELS = """'["pagerduty", "slack"]'"""


@dataclass(frozen=True)
class Fleet:
    """How much history: the defaults are issue 23's (30 days of a 300-node fleet)."""

    nodes: int = 300
    days: int = 30
    alerts: int = 100_000
    deliveries_per_alert: int = 10  # each with one attempt: 1,000,000 of each
    firing: int = 1_000  # the newest alerts still fire
    windows_per_day: int = 2
    storms: int = 30
    storm_size: int = 20  # alerts folded into each storm

    @property
    def deliveries(self) -> int:
        return self.alerts * self.deliveries_per_alert

    @property
    def windows(self) -> int:
        return self.days * self.windows_per_day


def seed_history(engine: Engine, fleet: Fleet, now: datetime) -> dict[str, int]:
    """Insert `fleet`'s history ending at `now`; returns rows inserted per table."""
    sql = _Sql(engine.dialect.name, fleet, now)
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        taken = conn.execute(text("SELECT count(*) FROM alerts")).scalar_one()
        if taken:
            raise ValueError("seed_history needs an empty database (explicit ids)")
        for table, statement in sql.statements():
            conn.execute(text(statement))
            # (SQLite's rowcount is -1 for INSERT … SELECT with a CTE.)
            counts[table] = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        if sql.postgres:
            _move_sequences(conn)
    # As a month-old database would be: PostgreSQL vacuumed and analysed (autovacuum),
    # SQLite's write-ahead log copied back into the database file.
    if sql.postgres:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    elif engine.url.database:
        # Best effort: a reader of the running bridge may hold the log for a moment.
        with (
            contextlib.suppress(sqlite3.Error),
            contextlib.closing(sqlite3.connect(engine.url.database)) as db,
        ):
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return counts


def _move_sequences(conn: Connection) -> None:
    for table in ("alerts", "alert_transitions", "deliveries", "delivery_attempts", "storms"):
        conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        )
    conn.execute(
        text(
            "SELECT setval(pg_get_serial_sequence('window_occurrences', 'id'), "
            "(SELECT coalesce(max(id), 0) + 1 FROM window_occurrences), false)"
        )
    )


class _Sql:
    """The INSERT statements, written once for both dialects."""

    def __init__(self, dialect: str, fleet: Fleet, now: datetime) -> None:
        self.postgres = dialect == "postgresql"
        self.fleet = fleet
        self.span = fleet.days * 86400
        self.base = (now - timedelta(seconds=self.span)).astimezone(UTC)

    # -- dialect pieces ---------------------------------------------------------------

    def series(self, count: int) -> str:
        """A CTE `s(i)`: the integers 0 … count-1."""
        if self.postgres:
            return f"WITH s(i) AS (SELECT generate_series(CAST(0 AS bigint), {count - 1}))"
        last = count - 1
        return f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {last})"

    def ts(self, seconds: str) -> str:
        """The time `seconds` (an integer SQL expression) after the history's start, in
        the form UTCDateTime stores."""
        if self.postgres:
            stamp = self.base.strftime("%Y-%m-%d %H:%M:%S")
            return f"(TIMESTAMP '{stamp}' + ({seconds}) * INTERVAL '1 second')"
        epoch = int(self.base.timestamp())
        return f"(strftime('%Y-%m-%d %H:%M:%S', {epoch} + ({seconds}), 'unixepoch') || '.000000')"

    def json(self, expr: str) -> str:
        return f"CAST({expr} AS json)" if self.postgres else expr

    # -- per-alert expressions (`i`: the alert's index, id = i + 1) -----------------------

    def alert_parts(self, i: str) -> dict[str, str]:
        f = self.fleet
        names = " ".join(f"WHEN {n} THEN '{name}'" for n, name in enumerate(ALERTNAMES))
        name = f"(CASE ({i} / {f.nodes}) % {len(ALERTNAMES)} {names} END)"
        node = f"('dgx-spark-' || CAST(1000 + {i} % {f.nodes} AS TEXT))"
        severity = f"(CASE WHEN {i} % 3 = 0 THEN 'critical' ELSE 'warning' END)"
        starts = f"({i}) * {self.span - EPISODE_SECONDS} / {f.alerts}"
        firing = f"({i} >= {f.alerts - f.firing})"
        labels = (
            f"""'{{"alertname": "' || {name} || '", "node": "' || {node} || """
            f"""'", "severity": "' || {severity} || '", "gpu": "' || """
            f"""CAST({i} % 8 AS TEXT) || '"}}'"""
        )
        per_storm = f.alerts // max(f.storms, 1)
        storm = (
            f"(CASE WHEN {i} < {per_storm * f.storms} AND {i} % {per_storm} < {f.storm_size} "
            f"THEN {i} / {per_storm} + 1 END)"
        )
        return {
            "name": name,
            "node": node,
            "severity": severity,
            "starts": starts,
            "firing": firing,
            "labels": labels,
            "storm": storm,
        }

    def statements(self) -> list[tuple[str, str]]:
        return [
            ("alerts", self.alerts()),
            ("alert_transitions", self.transitions()),
            ("deliveries", self.deliveries()),
            ("delivery_attempts", self.attempts()),
            ("storms", self.storms()),
            ("windows", self.windows()),
            ("window_occurrences", self.occurrences()),
        ]

    def alerts(self) -> str:
        p = self.alert_parts("i")
        changed = (
            f"(CASE WHEN {p['firing']} THEN {p['starts']} "
            f"ELSE {p['starts']} + {EPISODE_SECONDS} END)"
        )
        return f"""{self.series(self.fleet.alerts)}
INSERT INTO alerts (id, fingerprint, alertname, severity, node, status, starts_at, ends_at,
    labels, annotations, generator_url, channels, notified, first_seen_at, last_seen_at,
    last_change_at, received_count, duplicate_count, storm_id, delivered_status)
SELECT i + 1, 'hist-' || CAST(i AS TEXT), {p["name"]}, {p["severity"]}, {p["node"]},
    CASE WHEN {p["firing"]} THEN 'firing' ELSE 'resolved' END,
    {self.ts(p["starts"])},
    CASE WHEN {p["firing"]} THEN NULL ELSE {self.ts(p["starts"] + f" + {EPISODE_SECONDS}")} END,
    {self.json(p["labels"])},
    {self.json(ANNOTATIONS)},
    'http://prometheus:9090/graph',
    {self.json(CHANNELS)},
    {p["firing"]}, {self.ts(p["starts"])}, {self.ts(changed)}, {self.ts(changed)},
    10, 9, {p["storm"]},
    CASE WHEN {p["firing"]} THEN 'firing' ELSE 'resolved' END
FROM s"""

    def transitions(self) -> str:
        # Two per alert (fired, resolved); the ones still firing only the first.
        p = self.alert_parts("(i / 2)")
        resolve = "(i % 2 = 1)"
        return f"""{self.series(2 * self.fleet.alerts)}
INSERT INTO alert_transitions (id, alert_id, fingerprint, alertname, node, severity, status,
    reason, starts_at, at)
SELECT i + 1, i / 2 + 1, 'hist-' || CAST(i / 2 AS TEXT), {p["name"]}, {p["node"]},
    {p["severity"]},
    CASE WHEN {resolve} THEN 'resolved' ELSE 'firing' END,
    CASE WHEN {resolve} THEN 'resolved' ELSE 'new' END,
    {self.ts(p["starts"])},
    {self.ts(f"{p['starts']} + CASE WHEN {resolve} THEN {EPISODE_SECONDS} ELSE 0 END")}
FROM s WHERE NOT ({resolve} AND {p["firing"]})"""

    def _delivery_parts(self) -> dict[str, str]:
        d = self.fleet.deliveries_per_alert
        p = self.alert_parts(f"(i / {d})")
        k = f"(i % {d})"
        created = f"{p['starts']} + CASE WHEN {k} < 2 THEN 0 ELSE {EPISODE_SECONDS} + {k} END"
        dead = f"((i / {d}) % 97 = 0 AND {k} = 1)"
        return {**p, "k": k, "created": created, "dead": dead}

    def deliveries(self) -> str:
        q = self._delivery_parts()
        k = q["k"]
        action = (
            f"CASE WHEN {k} < 2 THEN 'trigger' WHEN {k} < 4 AND NOT {q['firing']} "
            "THEN 'resolve' ELSE 'reminder' END"
        )
        snapshot = f"""'{{"labels": ' || {q["labels"]} || '}}'"""
        return f"""{self.series(self.fleet.deliveries)}
INSERT INTO deliveries (id, alert_id, channel, action, status, starts_at, snapshot, attempts,
    next_attempt_at, priority, created_at, finished_at, last_error, external_ref)
SELECT i + 1, i / {self.fleet.deliveries_per_alert} + 1,
    CASE WHEN {k} % 2 = 0 THEN 'pagerduty' ELSE 'slack' END,
    {action},
    CASE WHEN {q["dead"]} THEN 'dead' ELSE 'delivered' END,
    {self.ts(q["starts"])}, {self.json(snapshot)}, 1,
    {self.ts(q["created"])}, 0, {self.ts(q["created"])}, {self.ts(q["created"] + " + 1")},
    CASE WHEN {q["dead"]} THEN 'HTTP 400' END,
    'hist-' || CAST(i AS TEXT)
FROM s"""

    def attempts(self) -> str:
        q = self._delivery_parts()
        return f"""{self.series(self.fleet.deliveries)}
INSERT INTO delivery_attempts (id, delivery_id, started_at, duration_ms, outcome,
    http_status, detail)
SELECT i + 1, i + 1, {self.ts(q["created"])}, 120,
    CASE WHEN {q["dead"]} THEN 'dead' ELSE 'delivered' END,
    CASE WHEN {q["dead"]} THEN 400 ELSE 202 END, ''
FROM s"""

    def storms(self) -> str:
        f = self.fleet
        per_storm = f.alerts // max(f.storms, 1)
        anchor = f"(i * {per_storm})"
        p = self.alert_parts(anchor)
        last = f"{p['starts']} + 300"
        return f"""{self.series(f.storms)}
INSERT INTO storms (id, alertname, started_at, ended_at, last_fired_at, fired_count,
    anchor_alert_id, channels, pagerduty_pending, slack_pending, slack_nodes)
SELECT i + 1, {p["name"]}, {self.ts(p["starts"])}, {self.ts(last + " + 600")},
    {self.ts(last)}, {f.storm_size}, {anchor} + 1,
    {self.json(CHANNELS)}, false, false, {self.json("'[]'")}
FROM s"""

    def windows(self) -> str:
        f = self.fleet
        step = self.span // f.windows
        node = f"('dgx-spark-' || CAST(1000 + i % {f.nodes} AS TEXT))"
        matchers = (
            f"""'[{{"name": "node", "value": "' || {node} || '", "isRegex": false, """
            """"isEqual": true}]'"""
        )
        return f"""{self.series(f.windows)}
INSERT INTO windows (id, matchers, created_by, comment, created_at, starts_at, ends_at)
SELECT 'hist-window-' || CAST(i AS TEXT), {self.json(matchers)}, 'seed', 'maintenance',
    {self.ts(f"i * {step}")}, {self.ts(f"i * {step}")},
    {self.ts(f"i * {step} + {WINDOW_SECONDS}")}
FROM s"""

    def occurrences(self) -> str:
        f = self.fleet
        step = self.span // f.windows
        return f"""{self.series(f.windows)}
INSERT INTO window_occurrences (id, window_id, starts_at, ends_at, am_silences, sync_state)
SELECT i + 1, 'hist-window-' || CAST(i AS TEXT), {self.ts(f"i * {step}")},
    {self.ts(f"i * {step} + {WINDOW_SECONDS}")}, {self.json("'{}'")}, 'expired'
FROM s"""
