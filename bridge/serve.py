"""`alert-bridge serve`: migrations, the WSGI server (waitress), the delivery side.

Deliveries and scheduled jobs run in a supervised child process
(bridge/delivery_process.py, bridge/supervisor.py), or in this one with
`--single-process`.

SIGTERM/SIGINT: stop accepting, let in-flight requests and deliveries finish,
leave pending rows pending for the next start (or another replica). Exit
status 1 when the delivery process could not be kept running.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType

from waitress import create_server

from bridge.app import create_app
from bridge.db.engine import checkpoint_in_background, make_engine
from bridge.db.migrate import upgrade
from bridge.delivery_process import DeliveryChild
from bridge.heap import freeze_startup_objects
from bridge.interact.pagerduty import MAX_WEBHOOK_BYTES
from bridge.interact.slack import MAX_INTERACTION_BYTES
from bridge.metrics import BridgeMetrics
from bridge.runtime import LocalDelivery
from bridge.settings import Settings
from bridge.store import Store
from bridge.supervisor import DeliverySupervisor
from bridge.web.context import delivery_of

log = logging.getLogger(__name__)

WSGI_THREADS = 8
# On stop, how long requests already being handled may take to finish.
REQUEST_DRAIN_SECONDS = 10.0
# Waitress reads a whole body before the app sees the request (and checks its
# token), so it takes in no more than the largest endpoint needs: the webhook's
# BRIDGE_MAX_BODY_BYTES, plus this headroom, so that a body a little over the cap
# still gets the app's JSON 413 from a client that writes it all before reading
# (urllib; a reset would be retried). A larger Content-Length is refused by
# waitress as soon as the headers are in, before any of the body is read.
UPLOAD_HEADROOM_BYTES = 1024 * 1024
# Idle or slow clients must not hold the server: a connection with no complete request
# and no traffic for this long is closed (waitress's default, 120 s, let 100 sockets that
# sent half a request lock everyone out for two minutes), checked this often...
IDLE_TIMEOUT_SECONDS = 15
IDLE_CHECK_SECONDS = 2
# ...and there are enough slots that a few hundred of them leave room for Alertmanager.
# An open connection costs a socket, not a thread; select() keeps this below 1024 fds.
CONNECTION_LIMIT = 500
SWITCH_INTERVAL_SECONDS = 0.001
# Sent to ourselves when the delivery process is given up on: the handler runs in
# the main thread, which is the one that can leave the WSGI server's loop.
GIVE_UP_SIGNAL = signal.SIGUSR1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, GIVE_UP_SIGNAL)


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    # Once: a second SIGTERM (from `timeout`, a process-group kill, an impatient
    # operator) must not interrupt the shutdown that the first one started.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _already_stopping)
    raise _Stop(signal.Signals(signum).name)


def _already_stopping(signum: int, _frame: FrameType | None) -> None:
    log.info("%s: already stopping", signal.Signals(signum).name)


def largest_body(settings: Settings) -> int:
    """The largest body any endpoint accepts (the webhook's cap, normally)."""
    return max(settings.max_body_bytes, MAX_INTERACTION_BYTES, MAX_WEBHOOK_BYTES)


def serve(settings: Settings, *, migrate: bool = True, single_process: bool = False) -> int:
    engine = make_engine(settings.database_url)
    checkpoints = checkpoint_in_background(engine)
    if migrate:
        upgrade(engine)
    store = Store(engine, settings.pagerduty_events_per_minute)
    gave_up: list[str] = []
    supervisor = None
    if not single_process:
        metrics = BridgeMetrics()

        def give_up(reason: str) -> None:
            gave_up.append(reason)
            os.kill(os.getpid(), GIVE_UP_SIGNAL)

        supervisor = DeliverySupervisor(
            lambda: DeliveryChild(settings), metrics, give_up, store.release_claims_of
        )
        app = create_app(settings, store=store, delivery=supervisor, metrics=metrics)
    else:
        app = create_app(settings, store=store)
    host, port = settings.listen_host_port
    server = create_server(
        app,
        host=host,
        port=port,
        threads=WSGI_THREADS,
        max_request_body_size=largest_body(settings) + UPLOAD_HEADROOM_BYTES,
        channel_timeout=IDLE_TIMEOUT_SECONDS,
        cleanup_interval=IDLE_CHECK_SECONDS,
        connection_limit=CONNECTION_LIMIT,
        ident="alert-bridge",
    )
    local = delivery_of(app)
    if supervisor is not None:
        supervisor.start()
    elif isinstance(local, LocalDelivery):
        # Hand the interpreter lock over more often than every 5 ms, so a webhook
        # request waiting behind a delivery thread is answered sooner.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        local.side.start()
    log.info(
        "alert-bridge listening on http://%s:%d (pagerduty: %s, slack: %s)",
        host,
        port,
        "live" if settings.pagerduty_enabled else "dry-run",
        "live" if settings.slack_enabled else "dry-run",
    )
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, _raise_stop)
    freeze_startup_objects()
    try:
        server.run()
    except _Stop as stop:
        log.info("%s: no longer accepting; finishing in-flight work", stop)
    finally:
        # Let request threads finish before their server's trigger is closed under them
        # (a request answered just before SIGTERM otherwise logs a Bad file descriptor).
        server.task_dispatcher.shutdown(timeout=REQUEST_DRAIN_SECONDS)
        server.close()
        if supervisor is not None:
            supervisor.stop()
        elif isinstance(local, LocalDelivery):
            local.side.stop()
        if checkpoints is not None:
            checkpoints.set()
        engine.dispose()
    if gave_up:
        log.critical("stopped: %s", gave_up[0])
        return 1
    log.info("stopped")
    return 0
