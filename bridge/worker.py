"""The delivery worker: claim outbox rows, notify, record the outcome.

Threads wake at once when the webhook commits new rows (same process) and
otherwise poll briefly (rows from other replicas, retries coming due).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bridge.clock import Clock, utcnow
from bridge.metrics import BridgeMetrics
from bridge.notify.registry import Notifier
from bridge.notify.result import Delivered, Outcome, PermanentFailure, RetryLater, backoff_seconds
from bridge.store import Finish, Job, Store

log = logging.getLogger(__name__)

# Upper bound on how long an idle thread sleeps before looking for due rows
# (written by another replica, or a retry coming due).
IDLE_POLL_SECONDS = 1.0
# A delivery still failing after this long is given up and becomes a dead letter.
MAX_RETRY_AGE = timedelta(hours=24)
DEFAULT_THREADS = 4
# Jobs a thread claims per transaction: fewer round trips under load, while a
# batch is small enough that its last job is not held up behind the others.
CLAIM_BATCH = 4
# Longest a delivery thread waits for running webhook requests before it claims.
GIVE_WAY_SECONDS = 0.02


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 2.0
    max_seconds: float = 300.0
    max_age: timedelta = MAX_RETRY_AGE


def decide_finish(
    outcome: Outcome, attempts: int, created_at: datetime, now: datetime, policy: RetryPolicy
) -> Finish:
    """Pure: an outcome and the attempt count → what the outbox row becomes."""
    if isinstance(outcome, Delivered):
        state = "dry_run" if outcome.dry_run else "delivered"
        return Finish(
            status=state,
            outcome=state,
            detail=outcome.detail,
            http_status=outcome.http_status,
            external_ref=outcome.external_ref,
            slack_channel=outcome.slack_channel,
            slack_ts=outcome.external_ref if outcome.slack_channel else None,
        )
    if isinstance(outcome, PermanentFailure):
        return Finish("dead", "dead", outcome.reason, outcome.http_status)
    if now - created_at >= policy.max_age:
        detail = f"gave up after {attempts} attempts: {outcome.reason}"
        return Finish("dead", "dead", detail, outcome.http_status)
    delay = (
        outcome.retry_after
        if outcome.retry_after is not None
        else backoff_seconds(attempts, policy.base_seconds, policy.max_seconds)
    )
    return Finish(
        "pending",
        "retry",
        outcome.reason,
        outcome.http_status,
        next_attempt_at=now + timedelta(seconds=delay),
    )


def new_worker_id() -> str:
    """What the outbox rows this worker claims are marked with (unique per worker)."""
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class DeliveryWorker:
    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        metrics: BridgeMetrics,
        *,
        policy: RetryPolicy | None = None,
        clock: Clock = utcnow,
        threads: int = DEFAULT_THREADS,
        enrich: Callable[[Job], dict[str, object] | None] | None = None,
        worker_id: str | None = None,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.metrics = metrics
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.enrich = enrich
        self.worker_id = worker_id or new_worker_id()
        self._thread_count = threads
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._generation = 0
        # Webhook requests in progress; deliveries give way to them (see _give_way).
        self._ingesting = 0
        self._ingest_done = threading.Condition()
        self._forward: Callable[[int | None], None] | None = None

    # Lifecycle -----------------------------------------------------------

    def start(self) -> None:
        for i in range(self._thread_count):
            thread = threading.Thread(target=self._loop, name=f"delivery-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def forward_wakes(self, forward: Callable[[int | None], None]) -> None:
        """Deliveries run elsewhere (the delivery process): pass wake-ups on to it."""
        self._forward = forward

    def wake(self, jobs: int | None = None) -> None:
        """New rows are due: wake as many threads as there is work for (all if unknown)."""
        if self._forward is not None:
            self._forward(jobs)
            return
        with self._cond:
            self._generation += 1
            if jobs is None:
                self._cond.notify_all()
            else:
                self._cond.notify(max(1, min(jobs, self._thread_count)))

    def stop(self, timeout: float = 30.0) -> None:
        """Finish in-flight deliveries, claim nothing new; pending rows stay pending."""
        self._stopping.set()
        with self._cond:  # this process's threads only: never forwarded to a child
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    @contextmanager
    def ingesting(self) -> Iterator[None]:
        """Mark a webhook request in progress: Alertmanager waits on its answer."""
        with self._ingest_done:
            self._ingesting += 1
        try:
            yield
        finally:
            with self._ingest_done:
                self._ingesting -= 1
                if not self._ingesting:
                    self._ingest_done.notify_all()

    def _give_way(self) -> None:
        """Let a running webhook request finish before claiming more.

        Both share one interpreter lock; a delivery thread that keeps it busy
        adds its work to the webhook's answer time. Bounded, so a steady stream
        of webhook posts slows deliveries down but never stops them.
        """
        with self._ingest_done:
            if self._ingesting:
                self._ingest_done.wait(GIVE_WAY_SECONDS)

    # Work ----------------------------------------------------------------

    def run_once(self, limit: int = 10) -> int:
        """Claim and deliver what is due now; returns how many jobs ran (tests, CLI)."""
        jobs = self.store.claim(self.worker_id, self.clock(), limit)
        for job in jobs:
            self._deliver(job)
        return len(jobs)

    def drain(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is due now."""
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            if not ran:
                break
            total += ran
        return total

    def _loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._cond:
                seen = self._generation
            self._give_way()
            try:
                ran = self.run_once(limit=CLAIM_BATCH)
                failures = 0
            except Exception:
                failures += 1
                log.exception("delivery loop failed (database unavailable?)")
                self._stopping.wait(min(30.0, 0.5 * 2**failures))
                continue
            if ran == CLAIM_BATCH:
                continue  # perhaps more due; fewer means the outbox had no more for now
            with self._cond:
                if self._generation == seen and not self._stopping.is_set():
                    self._cond.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        try:
            due = self.store.next_due(self.clock())
        except Exception:
            return IDLE_POLL_SECONDS
        if due is None:
            return IDLE_POLL_SECONDS
        return max(0.01, min(IDLE_POLL_SECONDS, (due - self.clock()).total_seconds()))

    def _deliver(self, job: Job) -> None:
        started = self.clock()
        context = None
        if self.enrich is not None and job.action == "trigger":
            context = self._enrich(job)
            if context is not None:
                # The notifier renders what the row will store: the same context on
                # this first attempt as on any retry.
                job = replace(
                    job, deliveries=tuple(replace(d, context=context) for d in job.deliveries)
                )
        notifier = self.notifiers[job.channel]
        try:
            outcome = notifier.send(job)
        except Exception as exc:  # a notifier bug must not kill the thread or lose the row
            log.exception("notifier %s raised", job.channel)
            outcome = RetryLater(f"internal error: {type(exc).__name__}")
        first = job.deliveries[0]
        now = self.clock()
        finish = decide_finish(outcome, first.attempts, first.created_at, now, self.policy)
        self.store.finish(job, self.worker_id, finish, started, now, context)
        self._record(job, finish, now)

    def _enrich(self, job: Job) -> dict[str, object] | None:
        if job.deliveries[0].context is not None:
            return None  # stored by an earlier attempt; do not query again
        assert self.enrich is not None
        try:
            return self.enrich(job)
        except Exception as exc:
            log.warning("enrichment failed: %s", type(exc).__name__)
            return {"_missing": f"enrichment failed: {type(exc).__name__}"}

    def _record(self, job: Job, finish: Finish, now: datetime) -> None:
        count = len(job.deliveries)
        self.metrics.notifications.labels(job.channel, finish.outcome).inc(count)
        if finish.outcome in ("delivered", "dry_run"):
            for d in job.deliveries:
                latency = (now - d.created_at).total_seconds()
                self.metrics.delivery_latency.labels(job.channel).observe(latency)
        names = ",".join(
            sorted(
                {
                    str(d.snapshot.get("labels", {}).get("alertname", job.action))
                    for d in job.deliveries
                }
            )
        )
        # Dry-run notifiers already logged their one readable line.
        level = {"dead": logging.WARNING, "retry": logging.WARNING, "dry_run": logging.DEBUG}.get(
            finish.outcome, logging.INFO
        )
        log.log(
            level,
            "delivery %s %s %s [%s]: %s%s",
            job.channel,
            job.action,
            finish.outcome,
            names,
            finish.detail,
            f" (next attempt {finish.next_attempt_at.isoformat()})"
            if finish.next_attempt_at
            else "",
        )
