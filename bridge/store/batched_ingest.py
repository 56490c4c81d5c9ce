"""The webhook's writes, grouped: the payloads of concurrent requests in one transaction.

Each request still gets its own result, and only after the transaction that holds its
payload committed (store/group_commit.py). Within a batch the exact repeats (store/
repeats.py) are counted by one UPDATE and every other payload goes through one
`ingest_many`, which records them as if one had followed the other: concurrent requests
have no order of their own, so any order is one they could have arrived in.

When a batch fails as a whole, its requests are not all failed with it:
- an alert hinted as a repeat that was not one: the hint is dropped and the batch runs
  again (the full ingest decides);
- another replica created an alert first (`InsertRace`): the batch runs again, as a
  single request's transaction always did;
- the database failed (unreachable, disconnected, out of resources: an
  `OperationalError`): every request of the batch gets the error at once (a 503, so
  Alertmanager retries). Running each payload alone would only wait for the database
  again, once per payload, with every queued request behind it;
- anything else (a value the database refuses, say), or a race lost every time, in a
  batch of several: each payload runs alone, so only the request that caused it gets
  the error.

On PostgreSQL a batch locks every alert it touches in one statement, in fingerprint
order, before counting its repeats (store/alert_rows.py `lock_in_order`): two batches
never wait for each other in a circle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, OperationalError

from bridge.alerts import WebhookPayload
from bridge.flapping import FlapLimits
from bridge.routing import Routing
from bridge.store.alert_rows import InsertRace, lock_in_order
from bridge.store.group_commit import MAX_BATCH, GroupCommit
from bridge.store.ingest import IngestResult, ingest_many
from bridge.store.repeats import NotAllRepeats, RepeatHints, count_repeats_many
from bridge.storms import StormLimits

# A replica that loses the race to create an alert runs its transaction again and
# finds the row; more than one loss in a row would take a third replica.
INSERT_RACE_ATTEMPTS = 3
# Batches in flight at once per process. SQLite has one writer: a second batch would
# only wait for the lock. PostgreSQL takes a second while the first waits for it.
CONCURRENT_BATCHES = {"sqlite": 1, "postgresql": 2}


@dataclass(frozen=True)
class IngestRequest:
    payload: WebhookPayload
    routing: Routing
    now: datetime
    limits: FlapLimits | None
    storm: StormLimits

    def batch_key(self) -> tuple[object, ...]:
        """Requests that may share a transaction: the same rules (a config reload
        between two requests makes a new Routing)."""
        return (id(self.routing), self.limits, self.storm)


class BatchedIngest:
    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine = engine
        self.repeats = RepeatHints()
        self._group: GroupCommit[IngestRequest, IngestResult] = GroupCommit(
            self.commit_together, max_batch, CONCURRENT_BATCHES.get(engine.dialect.name, 1)
        )

    def ingest(self, request: IngestRequest) -> IngestResult:
        return self._group.run(request, request.batch_key())

    def commit_together(self, batch: Sequence[IngestRequest]) -> list[IngestResult | BaseException]:
        """Record `batch` in one transaction: a result, or the exception that request
        must answer with, per request."""
        try:
            return [replace(r, batch=len(batch)) for r in self._commit(batch)]
        except Exception as exc:
            if len(batch) == 1:
                raise
            if _database_failed(exc):
                return [exc] * len(batch)
        # One payload of several failed the whole transaction: each runs alone.
        outcomes: list[IngestResult | BaseException] = []
        for request in batch:
            try:
                outcomes += self._commit([request])
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _commit(self, batch: Sequence[IngestRequest]) -> list[IngestResult]:
        """One transaction for the whole batch, run again when that is the answer."""
        races_left = INSERT_RACE_ATTEMPTS
        while True:
            try:
                return self._transaction(batch)
            except NotAllRepeats:
                continue  # the hints that were wrong are gone: the full ingest decides
            except InsertRace:
                races_left -= 1
                if not races_left:
                    raise

    def _transaction(self, batch: Sequence[IngestRequest]) -> list[IngestResult]:
        first = batch[0]
        now = max(request.now for request in batch)
        repeats, full = self._split(batch)
        results: dict[int, IngestResult] = {}
        with self.engine.begin() as conn:
            if repeats and full:  # two statements lock alerts: take them all first
                lock_in_order(conn, [a.fingerprint for r in batch for a in r.payload.alerts])
            if repeats:
                try:
                    counted = count_repeats_many(
                        conn, [batch[i].payload.alerts for i in repeats], now
                    )
                except NotAllRepeats as short:
                    for index in short.payloads:
                        self.repeats.forget(batch[repeats[index]].payload.alerts)
                    raise
                results.update(zip(repeats, counted, strict=True))
            if full:
                recorded = ingest_many(
                    conn,
                    [batch[i].payload for i in full],
                    first.routing,
                    now,
                    first.limits,
                    first.storm,
                )
                results.update(zip(full, recorded, strict=True))
        for index in full:
            self.repeats.learn(batch[index].payload.alerts, results[index])
        return [results[i] for i in range(len(batch))]

    def _split(self, batch: Sequence[IngestRequest]) -> tuple[list[int], list[int]]:
        """Which payloads one counting UPDATE can take (all hinted exact repeats, no
        fingerprint shared with another of them) and which need the full ingest."""
        repeats: list[int] = []
        full: list[int] = []
        counted: set[str] = set()
        for index, request in enumerate(batch):
            alerts = request.payload.alerts
            fingerprints = {a.fingerprint for a in alerts}
            if self.repeats.all_known(alerts) and not fingerprints & counted:
                repeats.append(index)
                counted |= fingerprints
            else:
                full.append(index)
        return repeats, full


def _database_failed(exc: BaseException) -> bool:
    """The database failed, not a payload: no payload alone would fare better."""
    return isinstance(exc, OperationalError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
