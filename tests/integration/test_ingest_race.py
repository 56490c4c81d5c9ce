"""Two replicas see the same alert as new at once (PostgreSQL: several writers)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from bridge.alerts import parse_payload
from bridge.routing import Routing
from bridge.settings import Settings
from bridge.store import Store, batched_ingest
from bridge.store.ingest import IngestResult, ingest
from tests.support.bridge_app import deliveries, make_app, row_counts
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


def test_a_post_that_keeps_losing_the_insert_race_answers_503_so_alertmanager_retries(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: no two transactions insert at once")
    # One attempt only, so a single lost race is the last one.
    monkeypatch.setattr(batched_ingest, "INSERT_RACE_ATTEMPTS", 1)
    client = make_app(settings, engine).test_client()
    body = payload(alert(node="dgx-spark-01"))
    answers: list[Any] = []
    with engine.connect() as first, first.begin():
        ingest(first, parse_payload(body), Routing(), NOW)
        poster = threading.Thread(
            target=lambda: answers.append(
                client.post(
                    "/webhook/alertmanager", data=json.dumps(body), content_type="application/json"
                )
            )
        )
        poster.start()
        poster.join(timeout=0.5)
        assert poster.is_alive(), "the webhook's insert should wait for the first transaction"
    poster.join(timeout=10)
    [answer] = answers
    assert answer.status_code == 503
    assert answer.headers.get("Retry-After")
    assert row_counts(engine)["alerts"] == 1
