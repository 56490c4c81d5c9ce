"""A tiny threaded HTTPS server that runs a WSGI app in a daemon thread.

Shared by the PagerDuty and Slack replicas. Differences from a bare
``werkzeug.serving.make_server(..., threaded=True, ssl_context=...)``, each for a test need:

* the TLS handshake runs in the per-connection thread instead of in ``accept()``, so one
  client that connects and stays silent cannot stall every other client;
* open (keep-alive) connections are tracked and cut on ``stop()``: a stopped replica must
  look down to a client with a pooled connection, not keep answering from a stray thread;
* ``stopping`` is an event that request handlers sleeping for fault injection (latency,
  hang) wait on, so ``stop()`` returns promptly even while a client is being held;
* per-request access logs go to a debug logger, not to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

log = logging.getLogger("tests.fakes")

# An idle keep-alive connection holds a thread; give up on it eventually.
IDLE_CONNECTION_TIMEOUT_S = 30.0
# How often serve_forever() checks for shutdown: bounds how long stop() takes.
POLL_INTERVAL_S = 0.05
# How long stop() waits for request threads to finish once their connections are cut.
STOP_TIMEOUT_S = 5.0


class _Handler(WSGIRequestHandler):
    timeout = IDLE_CONNECTION_TIMEOUT_S
    server: _TrackingServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        self.server.untrack(self.connection)
        super().finish()

    def log(self, type: str, message: str, *args: Any) -> None:
        # Access lines and TLS handshake failures (a client not trusting the CA is a
        # legitimate test scenario) are noise at default verbosity.
        log.debug("%s %s", self.address_string(), message % args)


class _TrackingServer(ThreadedWSGIServer):
    def __init__(self, host: str, port: int, app: WSGIApplication, context: ssl.SSLContext):
        super().__init__(host, port, app, handler=_Handler, ssl_context=context)
        # SSLSocket.accept() would otherwise handshake in the serving thread.
        self.socket.do_handshake_on_connect = False  # type: ignore[attr-defined]
        # Open connection -> the thread serving it.
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections[connection] = threading.current_thread()

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.pop(connection, None)

    def cut_all_connections(self, timeout: float) -> list[threading.Thread]:
        """Cut every open connection, wait for their threads; return those still running."""
        with self._connections_lock:
            connections = dict(self._connections)
        for connection in connections:
            # The plain-socket shutdown: SSLSocket.shutdown would also drop its TLS state
            # under the feet of a thread blocked reading from it. OSError: peer already gone.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for thread in connections.values():
            thread.join(max(0.0, deadline - time.monotonic()))
        return [thread for thread in connections.values() if thread.is_alive()]


class HTTPSServer:
    """Serve ``app`` over HTTPS on ``host:port`` (port 0 picks a free one) in a daemon thread."""

    def __init__(
        self,
        app: WSGIApplication,
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.stopping = threading.Event()
        self._server = _TrackingServer(host, port, app, ssl_context)
        self._thread: threading.Thread | None = None
        self.host = host
        self.port: int = self._server.port

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``https://127.0.0.1:43121``."""
        return f"https://{self.host}:{self.port}"

    def start(self) -> HTTPSServer:
        if self._thread is not None:
            raise RuntimeError("server already started")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"https-fake-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, release held requests, cut open connections. Idempotent."""
        self.stopping.set()
        if self._thread is None:
            self._server.server_close()
            return
        self._server.shutdown()  # returns once serve_forever() has exited
        self._server.server_close()
        self._thread.join(timeout=STOP_TIMEOUT_S)
        self._thread = None
        # Handler threads are daemons, so nothing forces this wait; it makes sure no request
        # still runs (and records) after stop(), and makes a stuck handler visible.
        stuck = self._server.cut_all_connections(timeout=STOP_TIMEOUT_S)
        if stuck:
            log.warning("%d request thread(s) still running after stop()", len(stuck))

    def __enter__(self) -> HTTPSServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
