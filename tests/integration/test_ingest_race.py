"""Two replicas see the same alert as new at once (PostgreSQL: several writers)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bridge.alerts import parse_payload
from bridge.routing import Routing
from bridge.store import Store
from bridge.store.ingest import IngestResult, ingest
from tests.support.bridge_app import deliveries, row_counts
from tests.support.payloads import alert, payload

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


def test_the_replica_that_loses_the_insert_race_records_a_duplicate(
    engine: Engine, store: Store
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: no two transactions insert at once")
    body = parse_payload(payload(alert(node="dgx-spark-01"), alert(node="dgx-spark-02")))
    results: list[IngestResult] = []
    with engine.connect() as first, first.begin():
        ingest(first, body, Routing(), NOW)
        # The second replica's insert waits for this uncommitted row, then finds
        # the fingerprint taken once this transaction commits.
        loser = threading.Thread(target=lambda: results.append(store.ingest(body, Routing(), NOW)))
        loser.start()
        loser.join(timeout=0.5)
        assert loser.is_alive(), "the second insert should wait for the first transaction"
    loser.join(timeout=10)
    assert [(r.new, r.duplicates, r.notifications) for r in results] == [(0, 2, 0)]
    assert row_counts(engine)["alerts"] == 2
    assert len(deliveries(engine)) == 4  # PagerDuty and Slack, once per alert
