"""What the PagerDuty and Slack replicas share: lifecycle, recording, waiting, faults.

A replica is a WSGI app served by :class:`~tests.fakes.server.HTTPSServer`. All mutable
state is guarded by one condition variable so tests can block until something was
recorded (``wait_for``) instead of sleeping for a guessed duration.

Faults are queued per *scope* (PagerDuty has one, ``enqueue``; Slack uses the API method
name) and consumed in order by the next matching requests; scope ``"*"`` matches any.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import json
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import Any, Literal, Self, TypeVar

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from tests.fakes.server import HTTPSServer
from tests.fakes.tls import TestCA

T = TypeVar("T")

ANY_SCOPE = "*"
# Long enough to outlast any client timeout under test; stop() releases it early anyway.
DEFAULT_HANG_S = 300.0
DEFAULT_WAIT_S = 5.0

FaultKind = Literal["status", "hang", "drop"]


@dataclass
class Fault:
    """One queued misbehaviour. ``status`` faults answer; ``hang``/``drop`` never do."""

    kind: FaultKind
    status: int | None = None
    retry_after: int | None = None
    body: Any = None  # dict/list -> JSON, str -> text, None -> the replica's default body
    error: str | None = None  # Slack: the ``error`` of an ``ok: false`` answer
    hang_s: float = DEFAULT_HANG_S


@dataclass
class _QueuedFault:
    fault: Fault
    remaining: int


@dataclass
class RecordedRequest:
    """One HTTP request as the replica saw it, and what it did with it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    received_at: float  # time.monotonic(), comparable across processes on one host
    received_wall: float  # time.time()
    status: int | None = None  # None: no answer was sent (connection dropped or held)
    response: Any = None  # decoded JSON answer, or its text
    fault: FaultKind | None = None  # set when an injected fault decided the outcome

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            return None


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(data), status=status, headers=headers, content_type="application/json"
    )


def _jsonable(value: Any) -> Any:
    """Recording -> JSON for the control API (bytes become base64)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


class FakeService:
    """Base of the replicas: subclasses implement :meth:`_serve` and :meth:`_views`."""

    def __init__(self, ca: TestCA, host: str = "127.0.0.1", port: int = 0) -> None:
        self.ca = ca
        self._cond = threading.Condition(threading.RLock())
        self._faults: dict[str, deque[_QueuedFault]] = {}
        self._latency_s = 0.0
        self._control_routes = Map(
            [
                Rule("/_fake/reset", endpoint="reset", methods=["POST"]),
                Rule("/_fake/faults", endpoint="faults", methods=["POST"]),
                Rule("/_fake/latency", endpoint="latency", methods=["POST"]),
                Rule("/_fake/<name>", endpoint="view", methods=["GET"]),
            ]
        )
        self._server = HTTPSServer(self._wsgi_app, ca.server_ssl_context(), host, port)

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, no trailing slash: ``https://127.0.0.1:PORT``."""
        return self._server.url

    @property
    def port(self) -> int:
        return self._server.port

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop serving; requests held by latency or ``hang_next`` are released and cut."""
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- waiting -------------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[], T], timeout: float = DEFAULT_WAIT_S, what: str = ""
    ) -> T:
        """Block until ``predicate()`` is truthy (re-checked on every recorded change).

        Returns the truthy value; raises AssertionError on timeout. The predicate runs
        under the replica's lock, so it sees a consistent state.
        """
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
            if not result:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what or predicate!r}; "
                    f"state: {self._describe()}"
                )
            return result

    def _changed(self) -> None:
        """Call with the lock held after recording anything."""
        self._cond.notify_all()

    def _describe(self) -> str:
        return ""

    # -- faults --------------------------------------------------------------------------

    def set_latency(self, seconds: float) -> None:
        """Delay every later answer (faulted ones included) by ``seconds``."""
        with self._cond:
            self._latency_s = float(seconds)

    def _queue_fault(self, scope: str, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._cond:
            self._faults.setdefault(scope, deque()).append(_QueuedFault(fault, times))

    def _take_fault(self, scope: str) -> Fault | None:
        """The next fault for ``scope`` (its own queue first, then ``*``), consumed once."""
        return self._take_first_fault((scope, ANY_SCOPE))

    def _take_first_fault(self, scopes: Iterable[str]) -> Fault | None:
        """The next fault of the first of ``scopes`` that has one queued, consumed once."""
        with self._cond:
            for key in scopes:
                queue = self._faults.get(key)
                if queue:
                    head = queue[0]
                    head.remaining -= 1
                    if head.remaining == 0:
                        queue.popleft()
                    return head.fault
            return None

    def _clear_faults(self) -> None:
        with self._cond:
            self._faults.clear()
            self._latency_s = 0.0

    def _delay(self) -> None:
        with self._cond:
            latency = self._latency_s
        if latency > 0:
            self._server.stopping.wait(latency)

    def _misbehave(self, fault: Fault, request: Request) -> None:
        """Carry out a transport fault: never answer. Always raises."""
        if fault.kind == "hang":
            # Hold the request open, then give up on it without a word.
            self._server.stopping.wait(fault.hang_s)
        connection = request.environ["werkzeug.socket"]
        # A plain TCP FIN with no TLS close_notify and no HTTP status line: what a
        # crashing proxy looks like. socket.socket.shutdown leaves the SSL object alone.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(connection, socket.SHUT_RDWR)
        # werkzeug treats ConnectionError as "client went away" and writes nothing more.
        raise ConnectionAbortedError(f"fake {fault.kind}: no response sent")

    # -- WSGI ----------------------------------------------------------------------------

    def _wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/_fake/"):
            response = self._control(request)
        else:
            response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        raise NotImplementedError

    def _views(self) -> dict[str, Callable[[], Any]]:
        """Name -> recording, served as JSON by ``GET /_fake/<name>``."""
        return {}

    def reset(self) -> None:
        """Forget recordings and queued faults; keep configuration."""
        self._clear_faults()

    # The fault methods have replica-specific signatures; the control API forwards to them.
    def fail_next(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def hang_next(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def drop_connection_next(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def _control(self, request: Request) -> Response:
        """``/_fake/`` API, so a separate process (e2e test, benchmark) can drive the replica."""
        try:
            endpoint, values = self._control_routes.bind_to_environ(request.environ).match()
        except HTTPException as exc:
            return json_response({"error": exc.description}, status=exc.code or 404)
        if endpoint == "view":
            views = self._views()
            if values["name"] not in views:
                return json_response({"error": f"no view {values['name']!r}"}, status=404)
            with self._cond:
                return json_response(_jsonable(views[values["name"]]()))
        if endpoint == "reset":
            self.reset()
            return json_response({"ok": True})
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return json_response({"error": "expected a JSON object"}, status=400)
        try:
            if endpoint == "latency":
                self.set_latency(float(body["seconds"]))
            else:
                kind = body.pop("kind", "status")
                add = {
                    "status": self.fail_next,
                    "hang": self.hang_next,
                    "drop": self.drop_connection_next,
                }[kind]
                add(**body)
        except (KeyError, TypeError, ValueError) as exc:
            return json_response({"error": f"bad fault: {exc!r}"}, status=400)
        return json_response({"ok": True})


def run_standalone(
    argv: list[str] | None,
    description: str,
    build: Callable[[TestCA, argparse.Namespace], FakeService],
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Serve a replica until SIGTERM/SIGINT; print its URL on stdout as one line first."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ca-dir", required=True, help="directory to write ca.pem into")
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    ca = TestCA(args.ca_dir)
    with build(ca, args) as fake:
        print(fake.url, flush=True)
        # Short waits keep the main thread responsive to signals.
        while not stop.wait(0.2):
            pass
    return 0


def monotonic_and_wall() -> tuple[float, float]:
    return time.monotonic(), time.time()


def sliding_window_full(
    window: deque[float], now: float, limit: int, period_s: float
) -> float | None:
    """Rate limiting over the last ``period_s``: seconds to wait if full, else None.

    ``window`` holds the monotonic times of accepted requests; old ones are pruned.
    """
    while window and now - window[0] >= period_s:
        window.popleft()
    if len(window) < limit:
        return None
    return period_s - (now - window[0])
