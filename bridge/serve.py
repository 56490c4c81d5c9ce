"""`alert-bridge serve`: migrations, the WSGI server (waitress), the delivery worker.

Deliveries and scheduled jobs run in a child process (see delivery_process),
or in this one with `--single-process`.

SIGTERM/SIGINT: stop accepting, let in-flight requests and deliveries finish,
leave pending rows pending for the next start (or another replica).
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

from waitress import create_server

from bridge import scheduler
from bridge.app import context_of, create_app
from bridge.db.engine import checkpoint_in_background, make_engine
from bridge.db.migrate import upgrade
from bridge.delivery_process import DeliveryProcess
from bridge.heap import freeze_startup_objects
from bridge.settings import Settings
from bridge.store import Store

log = logging.getLogger(__name__)

WSGI_THREADS = 8
SWITCH_INTERVAL_SECONDS = 0.001


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve(settings: Settings, *, migrate: bool = True, single_process: bool = False) -> int:
    engine = make_engine(settings.database_url)
    checkpoints = checkpoint_in_background(engine)
    if migrate:
        upgrade(engine)
    app = create_app(settings, store=Store(engine, settings.pagerduty_events_per_minute))
    ctx = context_of(app)
    child = None if single_process else DeliveryProcess(settings)
    host, port = settings.listen_host_port
    server = create_server(
        app,
        host=host,
        port=port,
        threads=WSGI_THREADS,
        max_request_body_size=settings.max_body_bytes + 1024,
        ident="alert-bridge",
    )
    if child is not None:
        child.start()
        ctx.worker.forward_wakes(child.wake)
        ctx.metrics.delivery_source = child.metrics
        jobs = None
    else:
        # Hand the interpreter lock over more often than every 5 ms, so a webhook
        # request waiting behind a delivery thread is answered sooner.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        ctx.worker.start()
        ctx.worker.wake()  # deliver whatever a previous run left pending
        jobs = scheduler.start(ctx)
    log.info(
        "alert-bridge listening on http://%s:%d (pagerduty: %s, slack: %s)",
        host,
        port,
        "live" if settings.pagerduty_enabled else "dry-run",
        "live" if settings.slack_enabled else "dry-run",
    )
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    freeze_startup_objects()
    try:
        server.run()
    except _Stop as stop:
        log.info("%s: no longer accepting; finishing in-flight work", stop)
    finally:
        server.close()
        if child is not None:
            child.stop()
        if jobs is not None:
            jobs.shutdown(wait=True)
        ctx.worker.stop()
        if checkpoints is not None:
            checkpoints.set()
        engine.dispose()
    log.info("stopped")
    return 0
