"""`alert-bridge serve`: migrations, the WSGI server (waitress), the delivery worker.

SIGTERM/SIGINT: stop accepting, let in-flight requests and deliveries finish,
leave pending rows pending for the next start (or another replica).
"""

from __future__ import annotations

import logging
import signal
from types import FrameType

from waitress import create_server

from bridge import scheduler
from bridge.app import context_of, create_app
from bridge.db.engine import make_engine
from bridge.db.migrate import upgrade
from bridge.settings import Settings
from bridge.store import Store

log = logging.getLogger(__name__)

WSGI_THREADS = 8


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve(settings: Settings, *, migrate: bool = True) -> int:
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    app = create_app(settings, store=Store(engine))
    ctx = context_of(app)
    host, port = settings.listen_host_port
    server = create_server(
        app,
        host=host,
        port=port,
        threads=WSGI_THREADS,
        max_request_body_size=settings.max_body_bytes + 1024,
        ident="alert-bridge",
    )
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
    try:
        server.run()
    except _Stop as stop:
        log.info("%s: no longer accepting; finishing in-flight work", stop)
    finally:
        server.close()
        jobs.shutdown(wait=True)
        ctx.worker.stop()
        engine.dispose()
    log.info("stopped")
    return 0
