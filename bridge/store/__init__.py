"""The store: every write the bridge makes, each in one short transaction."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from bridge.alerts import WebhookPayload
from bridge.db.engine import READ_ONLY
from bridge.flapping import FlapLimits
from bridge.routing import Routing
from bridge.store import outbox, views
from bridge.store.ingest import IngestResult, ingest
from bridge.store.outbox import Finish, Job

# Expired leases are rare (a process died); looking for them on every claim
# would cost a write per claim for nothing.
RELEASE_EVERY_SECONDS = 5.0


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._released_at = 0.0

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection for reads only (never waits for writers on SQLite)."""
        with self.engine.connect().execution_options(**READ_ONLY) as conn:
            yield conn

    def ingest(
        self,
        payload: WebhookPayload,
        routing: Routing,
        now: datetime,
        limits: FlapLimits | None = None,
    ) -> IngestResult:
        with self.engine.begin() as conn:
            return ingest(conn, payload, routing, now, limits)

    def claim(self, worker: str, now: datetime, limit: int = 1) -> list[Job]:
        with self.engine.begin() as conn:
            if time.monotonic() - self._released_at > RELEASE_EVERY_SECONDS:
                self._released_at = time.monotonic()
                outbox.release_expired(conn, now)
            return outbox.claim(conn, worker, now, limit)

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
            outbox.finish(conn, job, worker, result, started_at, now, context)

    def next_due(self) -> datetime | None:
        with self.read() as conn:
            return outbox.next_due(conn)

    def outbox_depth(self) -> dict[str, int]:
        with self.read() as conn:
            return outbox.outbox_depth(conn)

    def list_alerts(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.read() as conn:
            return views.list_alerts(conn, status=status, limit=limit)

    def ping(self) -> None:
        with self.read() as conn:
            conn.execute(text("SELECT 1"))


__all__ = ["Finish", "IngestResult", "Job", "Store"]
