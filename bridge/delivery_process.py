"""Deliveries and scheduled jobs in a child process of `alert-bridge serve`.

The webhook and the delivery worker are both CPU-bound Python; in one
process they share one interpreter lock, and a burst of deliveries adds to
Alertmanager's wait for its 200. A child process puts them on separate cores.
The outbox makes this safe: the child claims rows exactly as another replica
would. The web process tells the child when it queued rows (a pipe), and asks
it for its metrics on each scrape.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from multiprocessing.connection import Connection
from types import FrameType
from typing import Any

from prometheus_client import generate_latest

from bridge.settings import Settings

log = logging.getLogger(__name__)

# How long the web process waits for the child's metrics before showing its own only.
METRICS_TIMEOUT_SECONDS = 2.0
# How often the child checks for messages (and notices that its parent is gone).
POLL_SECONDS = 0.5


def run_child(settings: Settings, conn: Connection) -> None:
    """The child's main: worker threads and scheduler until told to stop or orphaned."""
    from bridge import scheduler
    from bridge.app import context_of, create_app
    from bridge.db.engine import checkpoint_in_background, make_engine
    from bridge.heap import freeze_startup_objects
    from bridge.logsetup import configure_logging
    from bridge.store import Store

    configure_logging(settings.log_level)
    stopping = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    engine = make_engine(settings.database_url, background=True)
    checkpoint_in_background(engine)
    store = Store(engine, settings.pagerduty_events_per_minute)
    ctx = context_of(create_app(settings, store=store))
    ctx.worker.start()
    ctx.worker.wake()  # whatever a previous run left pending
    jobs = scheduler.start(ctx)
    freeze_startup_objects()
    try:
        while not stopping.is_set():
            try:
                if not conn.poll(POLL_SECONDS):
                    continue
                message: tuple[Any, ...] = conn.recv()
            except (EOFError, OSError):
                log.warning("the web process is gone; finishing in-flight deliveries")
                break
            if message[0] == "wake":
                ctx.worker.wake(message[1])
            elif message[0] == "metrics":
                conn.send(generate_latest(ctx.metrics.delivery_registry))
    finally:
        jobs.shutdown(wait=True)
        ctx.worker.stop()
        engine.dispose()


class DeliveryProcess:
    """The web process's handle on its delivery child."""

    def __init__(self, settings: Settings) -> None:
        # spawn, not fork: the parent may already run threads (logging, pools).
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._lock = threading.Lock()
        self.process = context.Process(
            target=run_child,
            args=(settings, child_conn),
            name="alert-bridge-delivery",
        )

    def start(self) -> None:
        self.process.start()

    def wake(self, jobs: int | None = None) -> None:
        with self._lock:
            try:
                self._conn.send(("wake", jobs))
            except OSError:
                log.error("delivery process is not running; rows stay pending")

    def metrics(self) -> bytes:
        with self._lock:
            try:
                self._conn.send(("metrics",))
                if self._conn.poll(METRICS_TIMEOUT_SECONDS):
                    text: bytes = self._conn.recv()
                    return text
            except (OSError, EOFError):
                pass
        return b"# delivery process metrics unavailable\n"

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM the child: it finishes in-flight deliveries and leaves the rest pending."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout)
        if self.process.is_alive():
            log.error("delivery process did not stop in %.0fs; killing it", timeout)
            self.process.kill()
            self.process.join(5)
