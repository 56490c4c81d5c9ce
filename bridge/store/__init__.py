"""The store: every write the bridge makes, each in one short transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text

from bridge.alerts import WebhookPayload
from bridge.flapping import FlapLimits
from bridge.routing import Routing
from bridge.store import outbox, views
from bridge.store.ingest import IngestResult, ingest
from bridge.store.outbox import Finish, Job


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

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
        with self.engine.connect() as conn:
            return outbox.next_due(conn)

    def outbox_depth(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return outbox.outbox_depth(conn)

    def list_alerts(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return views.list_alerts(conn, status=status, limit=limit)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))


__all__ = ["Finish", "IngestResult", "Job", "Store"]
