"""Maintenance windows as the API and the scheduler use them: store, then sync."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from bridge.clock import Clock
from bridge.db.engine import read_connection
from bridge.silences.alertmanager import AlertmanagerClient
from bridge.silences.model import WindowSpec
from bridge.silences.sync import sync_occurrence
from bridge.silences.view import window_as_api, window_state
from bridge.store import windows as store

log = logging.getLogger(__name__)


class WindowService:
    def __init__(
        self,
        engine: Engine,
        alertmanager_urls: Sequence[str],
        clock: Clock,
        client: AlertmanagerClient | None = None,
    ) -> None:
        self.engine = engine
        self.urls = tuple(alertmanager_urls)
        self.clock = clock
        self.client = client or AlertmanagerClient()
        self.worker = f"windows-{uuid.uuid4().hex[:8]}"

    def create(self, spec: WindowSpec) -> dict[str, Any]:
        window_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            store.create_window(conn, window_id, spec, self.clock())
        # Best effort now; the scheduler keeps retrying whatever stays pending.
        self.sync_due()
        found = self.get(window_id)
        assert found is not None
        return found

    def expire(self, window_id: str) -> dict[str, Any] | None:
        with self.engine.begin() as conn:
            if not store.expire_window(conn, window_id, self.clock()):
                return None
        self.sync_due()
        return self.get(window_id)

    def get(self, window_id: str) -> dict[str, Any] | None:
        with read_connection(self.engine) as conn:
            rows = store.window_rows(conn, [window_id])
        if not rows:
            return None
        window, occurrences = rows[0]
        return window_as_api(window, occurrences, self.clock())

    def list(self, *, state: str | None = None, node: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        with read_connection(self.engine) as conn:
            rows = store.window_rows(conn)
        shown = []
        for window, occurrences in rows:
            if state and window_state(window, occurrences, now) != state:
                continue
            if node and not any(
                m["name"] == "node" and m["value"] == node and not m.get("isRegex")
                for m in window["matchers"]
            ):
                continue
            shown.append(window_as_api(window, occurrences, now))
        return shown

    def sync_due(self) -> int:
        """Create or expire Alertmanager silences for every occurrence that needs it."""
        now = self.clock()
        with self.engine.begin() as conn:
            claimed = store.claim_sync(conn, now, self.worker)
        for occurrence in claimed:
            result = sync_occurrence(occurrence, self.urls, self.client)
            # Said once per change, not at every 30 s retry; /silences and the console show
            # the state meanwhile. A refusal is an error: Alertmanager mutes nothing for it.
            if result.error and result.error != occurrence["sync_error"]:
                log.log(
                    logging.ERROR if result.state in ("invalid", "refused") else logging.WARNING,
                    "window %s not synced with Alertmanager (%s): %s",
                    occurrence["window_id"],
                    result.state,
                    result.error,
                )
            with self.engine.begin() as conn:
                store.record_sync(
                    conn,
                    occurrence["id"],
                    am_silences=result.am_silences,
                    state=result.state,
                    error=result.error,
                    now=self.clock(),
                )
        return len(claimed)

    def plan(self, now: datetime | None = None) -> int:
        """Create upcoming occurrences of recurring windows (idempotent)."""
        with self.engine.begin() as conn:
            return store.plan_recurring(conn, now or self.clock())
