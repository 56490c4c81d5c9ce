"""Group commit when the database fails (issue 22, item 7): an outage fails a batch at once,
and two batches never deadlock on each other's rows."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import OperationalError

from bridge.alerts import parse_payload
from bridge.db.models import ALERTS
from bridge.routing import Routing
from bridge.store.batched_ingest import BatchedIngest, IngestRequest
from bridge.store.ingest import IngestResult
from bridge.storms import StormLimits
from tests.support.bridge_app import unreachable_like
from tests.support.payloads import alert, payload
from tests.support.procs import wait_until

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
ROUTING = Routing()
STORM = StormLimits()


def request(*alerts: dict[str, Any]) -> IngestRequest:
    return IngestRequest(parse_payload(payload(*alerts)), ROUTING, NOW, None, STORM)


def test_an_unreachable_database_fails_the_whole_batch_at_once(engine: Engine) -> None:
    broken = unreachable_like(engine)
    attempts: list[object] = []
    event.listen(broken, "do_connect", lambda *args: attempts.append(args))
    batch = [request(alert(node=f"dgx-spark-{n:02d}")) for n in range(4)]

    outcomes = BatchedIngest(broken).commit_together(batch)

    # Every request gets the outage (its 503), after one try at the database, not one
    # more per payload, each waiting for its own connect timeout.
    assert all(isinstance(o, OperationalError) for o in outcomes), outcomes
    assert len(outcomes) == len(batch)
    assert len(attempts) == 1


def _waiting_for_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def test_two_batches_with_crossed_repeats_never_deadlock(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: batches never hold row locks at once")
    gate, x, y = (
        alert(node="a-gate", fingerprint="fp-a-gate"),
        alert(node="x", fingerprint="fp-x"),
        alert(node="y", fingerprint="fp-y"),
    )
    bridge = BatchedIngest(engine)  # one process, two batches in flight (PostgreSQL)
    bridge.commit_together([request(gate, x, y)])  # stored, and hinted as sent
    # Each batch: a payload of exact repeats (counted by one UPDATE), and a payload that
    # needs the full ingest and holds the other batch's repeat. The gate sorts first:
    # both full ingests wait for it after their batch counted its repeats.
    first = [request(x), request(gate, y, alert(node="z", fingerprint="fp-z"))]
    second = [request(y), request(gate, x, alert(node="w", fingerprint="fp-w"))]
    outcomes: dict[str, list[Any]] = {}
    start = threading.Barrier(2)

    def run(name: str, batch: list[IngestRequest]) -> None:
        start.wait()
        outcomes[name] = bridge.commit_together(batch)

    with engine.connect() as holder:
        transaction = holder.begin()
        holder.execute(
            select(ALERTS.c.id).where(ALERTS.c.fingerprint == "fp-a-gate").with_for_update()
        )
        threads = [
            threading.Thread(target=run, args=("first", first)),
            threading.Thread(target=run, args=("second", second)),
        ]
        for thread in threads:
            thread.start()
        wait_until(
            lambda: _waiting_for_locks(engine) >= 2 or None,
            timeout=30,
            what="both batches waiting for the gate",
        )
        transaction.rollback()  # both batches go on together
    for thread in threads:
        thread.join(timeout=60)

    results = outcomes["first"] + outcomes["second"]
    assert all(isinstance(r, IngestResult) for r in results), results
    # Each batch committed as one transaction: none was broken up (a deadlock victim
    # used to be run again payload by payload).
    assert [r.batch for r in results] == [2, 2, 2, 2]
    with engine.connect() as conn:
        received = dict(conn.execute(select(ALERTS.c.fingerprint, ALERTS.c.received_count)).all())
    assert received == {"fp-a-gate": 3, "fp-x": 3, "fp-y": 3, "fp-z": 1, "fp-w": 1}
