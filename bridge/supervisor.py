"""The web process watches its delivery process and restarts it when it dies.

An alerting pipeline must never fail silently. While the delivery process is
down, webhooks are still stored (the outbox keeps them) and `/readyz` answers
503 naming why, so a load balancer, a Docker healthcheck or systemd notices.
The child is restarted with a backoff; a child that keeps dying before it has
run for a while is given up on, and `serve` exits non-zero so that the service
manager restarts everything. Rows pending meanwhile are delivered once the new
child starts (it wakes on start, and claims rows like any replica would).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from multiprocessing.connection import wait

from prometheus_client import Counter, Gauge

from bridge.delivery_process import DeliveryChild
from bridge.metrics import BridgeMetrics

log = logging.getLogger(__name__)

# A child that dies sooner than this after it became ready counts as a failed start.
STABLE_SECONDS = 30.0
# This many failed starts in a row: give up, `serve` exits non-zero.
MAX_FAILED_STARTS = 5
# Backoff before restart number n (1-based): 1 s, 2 s, 4 s, … at most this.
MAX_BACKOFF_SECONDS = 8.0
# A child that is not ready by then (hung in start-up) is killed and counts as failed.
START_TIMEOUT_SECONDS = 60.0
# How long a scrape waits for the child's figures before showing the web side's only.
METRICS_TIMEOUT_SECONDS = 2.0
WATCH_SECONDS = 0.5


@dataclass(frozen=True)
class Restart:
    delay: float


@dataclass(frozen=True)
class GiveUp:
    reason: str


def after_exit(failed_starts: int, ran_for: float | None) -> tuple[int, Restart | GiveUp]:
    """Pure: the child exited after running `ran_for` seconds since ready (None: never ready).

    Returns the new count of failed starts in a row and what to do."""
    failed = failed_starts + 1 if ran_for is None or ran_for < STABLE_SECONDS else 1
    if failed >= MAX_FAILED_STARTS:
        return failed, GiveUp(f"the delivery process failed {failed} times in a row")
    return failed, Restart(min(MAX_BACKOFF_SECONDS, 2.0 ** (failed - 1)))


ChildFactory = Callable[[], DeliveryChild]


class DeliverySupervisor:
    """The web side's link to its delivery process (see bridge/runtime.DeliveryLink)."""

    def __init__(
        self,
        make_child: ChildFactory,
        metrics: BridgeMetrics,
        on_give_up: Callable[[str], None],
        release_claims: Callable[[str], int] | None = None,
    ) -> None:
        self._make_child = make_child
        # Rows a dead child had claimed would otherwise wait for their lease (60 s).
        self._release_claims = release_claims
        self._up = Gauge(
            "alert_bridge_delivery_process_up",
            "1 while the delivery process runs and delivers, 0 while it is down.",
            registry=metrics.registry,
        )
        self._restarts = Counter(
            "alert_bridge_delivery_process_restarts",
            "Times the delivery process died and was restarted (or given up on).",
            registry=metrics.registry,
        )
        self._on_give_up = on_give_up
        self._child: DeliveryChild | None = None
        self._down: str | None = "delivery process starting"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="delivery-supervisor", daemon=True)

    # DeliveryLink ----------------------------------------------------------

    def wake(self, jobs: int | None = None) -> None:
        child = self._child
        if child is not None and self._down is None:
            child.wake(jobs)
        # Down: the rows are committed; the next child delivers them when it starts.

    def reconcile_now(self) -> None:
        child = self._child
        if child is not None and self._down is None:
            child.reconcile_now()

    def ingesting(self) -> AbstractContextManager[None]:
        return nullcontext()  # deliveries run in another process: nothing to give way to

    def metrics(self) -> bytes:
        child = self._child
        figures = child.metrics(METRICS_TIMEOUT_SECONDS) if child is not None else None
        if figures is None:
            return b"# delivery process metrics unavailable\n"
        return figures

    def down_reason(self) -> str | None:
        return self._down

    # Lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _set_down(self, reason: str | None) -> None:
        self._down = reason
        self._up.set(0 if reason else 1)

    def _watch(self) -> None:
        failed = 0
        while not self._stopping.is_set():
            reason, ran_for = self._run_child()
            if self._stopping.is_set():
                return
            failed, step = after_exit(failed, ran_for)
            self._restarts.inc()
            if isinstance(step, GiveUp):
                self._set_down(f"{reason}; {step.reason}, giving up")
                log.critical("%s; %s: stopping alert-bridge", reason, step.reason)
                self._on_give_up(step.reason)
                return
            self._set_down(f"{reason}; restarting in {step.delay:.0f}s")
            log.error("%s; restarting it in %.0fs (rows stay pending)", reason, step.delay)
            self._stopping.wait(step.delay)

    def _run_child(self) -> tuple[str, float | None]:
        """Start a child and watch it until it exits or we stop.

        Returns why it ended and how long it ran after it became ready (None: never)."""
        try:
            child = self._make_child()
            child.start()
        except Exception as exc:  # cannot even spawn (no memory, no processes left)
            log.exception("could not start the delivery process")
            return f"delivery process could not start ({type(exc).__name__})", None
        self._child = child
        log.info("delivery process started (pid %s)", child.pid)
        ready_at = self._wait_ready(child)
        if ready_at is not None:
            self._set_down(None)
            while child.is_alive() and not self._stopping.is_set():
                wait([child.sentinel], timeout=WATCH_SECONDS)
        if self._stopping.is_set():
            child.stop()  # SIGTERM: in-flight deliveries finish, the rest stays pending
            return "stopping", None
        child.stop(timeout=5.0)  # reaps a dead child, kills one that hung in start-up
        ran_for = None if ready_at is None else time.monotonic() - ready_at
        self._release(child)
        return f"delivery process {child.exit_description()}", ran_for

    def _release(self, child: DeliveryChild) -> None:
        """The child is gone: what it had claimed and not finished is pending again now.
        (A delivery it sent but had not recorded goes out again, as after a lease.)"""
        if self._release_claims is None or child.is_alive():
            return
        try:
            released = self._release_claims(child.worker_id)
        except Exception as exc:  # the database is down
            log.warning(
                "could not release the dead delivery process's claims (%s); they wait for "
                "their lease",
                type(exc).__name__,
            )
            return
        if released:
            log.warning("released %d deliveries the dead delivery process had claimed", released)

    def _wait_ready(self, child: DeliveryChild) -> float | None:
        """When the child became ready (monotonic), or None if it died or hung first."""
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline and not self._stopping.is_set():
            if child.ready.wait(WATCH_SECONDS / 5):
                return time.monotonic()
            if not child.is_alive():
                return None
        if not self._stopping.is_set():
            log.error("delivery process not ready after %.0fs; killing it", START_TIMEOUT_SECONDS)
        return None
