"""Deliveries and scheduled jobs in a child process of `alert-bridge serve`.

The webhook and the delivery worker are both CPU-bound Python; in one
process they share one interpreter lock, and a burst of deliveries adds to
Alertmanager's wait for its 200. A child process puts them on separate cores.
The outbox makes this safe: the child claims rows exactly as another replica
would. The web process reaches it through bridge/delivery_link.py and watches
it through bridge/supervisor.py.

This module and everything the child imports stay free of Flask (a test walks
the imports).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from types import FrameType
from typing import Any

from prometheus_client import generate_latest

from bridge.delivery_link import ChildEnds, LinkClosed, MetricsServer, WakeReceiver, make_link
from bridge.settings import Settings

log = logging.getLogger(__name__)

# How often the child looks up from its channels (to notice a stop or an orphaning).
POLL_SECONDS = 0.5


def run_child(settings: Settings, ends: ChildEnds, ready: Any, worker_id: str) -> None:
    """The child's main: worker threads and scheduler until told to stop or orphaned."""
    from bridge.db.engine import checkpoint_in_background, make_engine
    from bridge.heap import freeze_startup_objects
    from bridge.logsetup import configure_logging
    from bridge.runtime import build_delivery_side
    from bridge.services import build_services
    from bridge.store import Store

    configure_logging(settings.log_level)
    parent = os.getppid()
    stopping = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    engine = make_engine(settings.database_url, background=True)
    checkpoint_in_background(engine)
    services = build_services(settings, store=Store(engine, settings.pagerduty_events_per_minute))
    side = build_delivery_side(services, worker_id=worker_id)
    side.start()
    # A cut webhook in the web process asks for a reconcile round (bridge/reconcile).
    wakes = WakeReceiver(ends.wakes, on_reconcile=lambda: services.reconcile_now())
    metrics = MetricsServer(
        ends.metrics, lambda: generate_latest(services.metrics.delivery_registry)
    )
    threading.Thread(
        target=_forward_wakes, args=(wakes, side.worker.wake, stopping), daemon=True
    ).start()
    freeze_startup_objects()
    ready.set()
    try:
        while not stopping.is_set():
            try:
                metrics.serve(POLL_SECONDS)
            except LinkClosed:
                stopping.set()
            if os.getppid() != parent:
                stopping.set()
        if os.getppid() != parent:
            log.warning("the web process is gone; finishing in-flight deliveries and exiting")
    finally:
        side.stop()
        engine.dispose()


def _forward_wakes(wakes: WakeReceiver, wake: Any, stopping: threading.Event) -> None:
    while not stopping.is_set():
        try:
            woken, jobs = wakes.receive(POLL_SECONDS)
        except LinkClosed:
            stopping.set()
            return
        if woken:
            wake(jobs)


class DeliveryChild:
    """One delivery process, from spawn to exit. The supervisor makes a new one per start."""

    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the parent already runs threads (waitress, logging, pools).
        context = multiprocessing.get_context("spawn")
        from bridge.worker import new_worker_id

        # Chosen here, so that the supervisor can release the child's claims if it dies.
        self.worker_id = new_worker_id()
        self._parent_ends, child_ends = make_link(context)
        self._child_ends: ChildEnds | None = child_ends
        self.ready = context.Event()
        self.process = context.Process(
            target=run_child,
            args=(settings, child_ends, self.ready, self.worker_id),
            name="alert-bridge-delivery",
        )

    def start(self) -> None:
        self.process.start()
        # The child has its own copies now; ours would hide its exit from our reads.
        assert self._child_ends is not None
        self._child_ends.wakes.close()
        self._child_ends.metrics.close()
        self._child_ends = None

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def sentinel(self) -> int:
        return self.process.sentinel

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def exit_description(self) -> str:
        code = self.process.exitcode
        if code is None:
            return "still running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def wake(self, jobs: int | None) -> bool:
        return self._parent_ends.wakes.send(jobs)

    def reconcile_now(self) -> bool:
        return self._parent_ends.wakes.send_reconcile()

    def metrics(self, timeout: float) -> bytes | None:
        return self._parent_ends.metrics.fetch(timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the child: it finishes in-flight deliveries and leaves the rest pending."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout)
        if self.process.is_alive():
            log.error("delivery process did not stop in %.0fs; killing it", timeout)
            self.process.kill()
            self.process.join(5)
        self.close()

    def close(self) -> None:
        self._parent_ends.close()
