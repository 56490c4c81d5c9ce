"""The store: every write the bridge makes, each in one short transaction."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from bridge.alerts import WebhookPayload
from bridge.db.engine import read_connection
from bridge.flapping import FlapLimits
from bridge.routing import PAGERDUTY, Routing
from bridge.store import attempts, outbox, responses, storm_rows, views
from bridge.store.alert_rows import InsertRace
from bridge.store.attempts import Finish
from bridge.store.batched_ingest import BatchedIngest, IngestRequest
from bridge.store.ingest import IngestResult
from bridge.store.outbox import Job
from bridge.storms import DEFAULT_LIMITS, StormLimits

# Expired leases are rare (a process died); looking for them on every claim
# would cost a write per claim for nothing.
RELEASE_EVERY_SECONDS = 5.0


# How often the pacing decision is re-read from the database.
PACING_CHECK_SECONDS = 1.0
# Row ids are INTEGER columns (PostgreSQL's int4): a larger id names no row.
MAX_ROW_ID = 2**31 - 1

# PagerDuty events a minute when nobody says otherwise: BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE's
# default, so a Store built without settings paces as `serve` does (0 turns pacing off).
DEFAULT_PAGERDUTY_EVENTS_PER_MINUTE = 100


class Store:
    def __init__(
        self,
        engine: Engine,
        pagerduty_events_per_minute: int = DEFAULT_PAGERDUTY_EVENTS_PER_MINUTE,
    ) -> None:
        self.engine = engine
        self._released_at = 0.0
        self._pd_limit = pagerduty_events_per_minute
        self._pd_used = 0
        self._paced_at = 0.0
        self._claiming = threading.Lock()
        self._ingest = BatchedIngest(engine)

    def budgets(self, now: datetime) -> dict[str, int]:
        """Requests each paced channel may still make now (PagerDuty: per minute).

        PagerDuty accepts about 120 events a minute per routing key and answers 429
        beyond; pacing below that keeps a storm's pages queued in the outbox, in
        order, instead of spent on 429 retries. Counted from the attempts of every
        replica (re-read every second), so replicas share one budget.
        """
        if not self._pd_limit:
            return {}
        if time.monotonic() - self._paced_at >= PACING_CHECK_SECONDS:
            self._paced_at = time.monotonic()
            with self.read() as conn:
                self._pd_used = attempts.recent_attempts(
                    conn, PAGERDUTY, now - timedelta(minutes=1)
                )
        return {PAGERDUTY: max(0, self._pd_limit - self._pd_used)}

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads only (never waits for writers on SQLite)."""
        with read_connection(self.engine) as conn:
            yield conn

    def ingest(
        self,
        payload: WebhookPayload,
        routing: Routing,
        now: datetime,
        limits: FlapLimits | None = None,
        storm: StormLimits = DEFAULT_LIMITS,
    ) -> IngestResult:
        """Record a webhook payload; committed, together with concurrent requests'
        payloads (store/batched_ingest.py), before this returns."""
        return self._ingest.ingest(IngestRequest(payload, routing, now, limits, storm))

    def claim(self, worker: str, now: datetime, limit: int = 1) -> list[Job]:
        # One claim at a time per process: threads woken together for one new job
        # would otherwise all queue for the write lock, and all but one find nothing.
        with self._claiming:
            return self._claim(worker, now, limit)

    def _claim(self, worker: str, now: datetime, limit: int) -> list[Job]:
        budgets = self.budgets(now)
        release = time.monotonic() - self._released_at > RELEASE_EVERY_SECONDS
        if not release:
            # Most claims of an idle or paced outbox find nothing: look first without
            # taking the write lock the webhook needs.
            with self.read() as conn:
                if not outbox.any_due(conn, now, budgets):
                    return []
        with self.engine.begin() as conn:
            if release:
                self._released_at = time.monotonic()
                outbox.release_expired(conn, now)
            jobs = outbox.claim(conn, worker, now, limit, budgets)
        # Count this process's claims until the next read of every replica's.
        self._pd_used += sum(job.channel == PAGERDUTY for job in jobs)
        return self._with_storms(jobs)

    def _with_storms(self, jobs: list[Job]) -> list[Job]:
        """Storm jobs get their storm as it is now, read outside the claim's write lock
        (a storm's alerts are many; reading them must not hold up the webhook)."""
        if all(job.storm_id is None for job in jobs):
            return jobs
        with self.read() as conn:
            return [
                replace(
                    job,
                    storm=responses.with_storm_response(
                        conn, storm_rows.load_view(conn, job.storm_id)
                    ),
                )
                if job.storm_id is not None
                else job
                for job in jobs
            ]

    def finish(
        self,
        job: Job,
        worker: str,
        result: Finish,
        started_at: datetime,
        now: datetime,
        context: dict[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            attempts.finish(conn, job, worker, result, started_at, now, context)

    def release_claims_of(self, worker: str) -> int:
        """A worker died (its process is gone): what it had claimed is pending again."""
        with self.engine.begin() as conn:
            return outbox.release_claims_of(conn, worker)

    def next_due(self, now: datetime) -> datetime | None:
        with self.read() as conn:
            paused = [c for c, left in self.budgets(now).items() if left <= 0]
            return outbox.next_due(conn, paused)

    def delivery_context(self, delivery_id: int) -> dict[str, Any] | None:
        """The context (enrichment) stored with a delivery, if any."""
        with self.read() as conn:
            return outbox.delivery_context(conn, delivery_id)

    def retry_dead(self, delivery_id: int, now: datetime) -> bool:
        """Requeue a dead letter (an operator's Retry); False when it is not dead (any more)."""
        if not 0 < delivery_id <= MAX_ROW_ID:  # no such row; the database would overflow
            return False
        with self.engine.begin() as conn:
            return outbox.requeue_dead(conn, delivery_id, now)

    def outbox_depth(self) -> dict[str, int]:
        with self.read() as conn:
            return outbox.outbox_depth(conn)

    def list_alerts(
        self,
        *,
        status: str | None = None,
        limit: int = 100,
        storm: int | None = None,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        with self.read() as conn:
            return views.list_alerts(conn, status=status, limit=limit, storm=storm, offset=offset)

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))


__all__ = ["Finish", "IngestResult", "InsertRace", "Job", "Store"]
