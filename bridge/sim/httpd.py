"""Small threaded HTTP servers that can stop listening and start again on the same port.

`exporter_down` must look to Prometheus exactly like a dead exporter: connection refused, so
`up == 0`. An HTTP 500 would not do (Prometheus records that as a failed scrape too, but an
operator's runbook starts from "the port does not answer"), so the listening socket itself is
closed and later re-opened.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.registry import Collector

from bridge.sim.snapshots import NodeSnapshot


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scrape never holds up shutdown
    allow_reuse_address = True  # re-bind at once after exporter_down is cleared


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        # One line per scrape, every second, per exporter, would bury everything else.
        pass


class Listener:
    """One WSGI app on one port; `start()`/`stop()` open and close the listening socket.

    wsgiref answers HTTP/1.0 and closes each connection after the response, so no keep-alive
    connection outlives `stop()`: the next scrape really is refused.
    """

    def __init__(self, host: str, port: int, app: WSGIApplication) -> None:
        self.host = host
        self.port = port
        self._app = app
        self._server: _ThreadingWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._server is not None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def start(self) -> None:
        if self._server is not None:
            return
        try:
            server = make_server(
                self.host,
                self.port,
                self._app,
                server_class=_ThreadingWSGIServer,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            # The bare errno text does not say which of a dozen ports is taken.
            raise OSError(exc.errno, f"{exc.strerror}: {self.host}:{self.port}") from exc
        self.port = server.server_port  # port 0 asks the OS; keep what it gave for restarts
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"listener-{self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        self._server = self._thread = None
        server.shutdown()  # waits for serve_forever to return
        server.server_close()  # closes the listening socket: new connections are refused
        if thread is not None:
            thread.join(timeout=5)


class SnapshotCollector(Collector):
    """Renders a fresh node snapshot at each scrape, like an exporter reading its device."""

    def __init__(
        self,
        snapshot: Callable[[], NodeSnapshot],
        render: Callable[[NodeSnapshot], Iterable[Metric]],
    ) -> None:
        self._snapshot = snapshot
        self._render = render

    def collect(self) -> Iterator[Metric]:
        return iter(list(self._render(self._snapshot())))


def metrics_app(collector: Collector, path: str) -> WSGIApplication:
    """A WSGI app serving `collector` on `path` in the 0.0.4 text format.

    Always 0.0.4, whatever the Accept header: the real exporters do (client_golang without
    OpenMetrics enabled), and prometheus_client's own app would negotiate OpenMetrics.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != path:
            body = f"not found; metrics are at {path}\n".encode()
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [body]
        body = generate_latest(registry)
        headers = [("Content-Type", CONTENT_TYPE_PLAIN_0_0_4), ("Content-Length", str(len(body)))]
        start_response("200 OK", headers)
        return [body]

    return app
