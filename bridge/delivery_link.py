"""The link between the web process and its delivery process: two channels, one job each.

Wake-ups travel on a socket pair, one byte per wake-up (the number of new jobs,
0 for "unknown"; 255 asks for a reconcile round with Alertmanager now, bridge/reconcile).
The web side never blocks on it: a full buffer means the
delivery process has wake-ups waiting already, and one more would add nothing.
A webhook therefore never waits behind a metrics scrape. End of file tells the
delivery process that its parent is gone.

Metrics travel on a pipe as numbered requests and replies. A reply that comes
after its request timed out is recognised by its number and dropped, so a slow
scrape can never make a later one read stale figures.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

# One byte carries a job count; larger counts wake every thread anyway.
MAX_JOBS_PER_BYTE = 254
ALL_JOBS = 0
RECONCILE = 255
READ_CHUNK = 4096


class LinkClosed(Exception):
    """The other process closed its end (it exited or was killed)."""


def merge_wakes(chunk: bytes) -> int | None:
    """Pure: several queued wake-ups → one (None: wake every thread)."""
    if ALL_JOBS in chunk:
        return None
    return sum(chunk)


class WakeSender:
    """The web process's end: never blocks, never raises."""

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock

    def send(self, jobs: int | None) -> bool:
        """False when the delivery process is not there to read it."""
        count = ALL_JOBS if jobs is None else max(1, min(jobs, MAX_JOBS_PER_BYTE))
        return self._send(count)

    def send_reconcile(self) -> bool:
        """Ask the delivery process for a reconcile round now."""
        return self._send(RECONCILE)

    def _send(self, byte: int) -> bool:
        try:
            self._sock.send(bytes((byte,)))
        except BlockingIOError:
            return True  # wake-ups already waiting: the delivery process will look anyway
        except OSError:
            return False
        return True

    def close(self) -> None:
        self._sock.close()


class WakeReceiver:
    """The delivery process's end."""

    def __init__(self, sock: socket.socket, on_reconcile: Callable[[], None] | None = None) -> None:
        sock.setblocking(True)
        self._sock = sock
        self._on_reconcile = on_reconcile

    def receive(self, timeout: float) -> tuple[bool, int | None]:
        """(True, jobs) for wake-ups, (False, None) when none came within `timeout`.

        Raises LinkClosed when the web process closed its end."""
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return False, None
        try:
            chunk = self._sock.recv(READ_CHUNK)
        except OSError as exc:
            raise LinkClosed(str(exc)) from None
        if not chunk:
            raise LinkClosed("end of file")
        if RECONCILE in chunk:
            if self._on_reconcile is not None:
                self._on_reconcile()
            chunk = chunk.replace(bytes((RECONCILE,)), b"")
            if not chunk:
                return False, None
        return True, merge_wakes(chunk)

    def close(self) -> None:
        self._sock.close()


class MetricsClient:
    """The web process's end: one scrape at a time, each answered by its own reply."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self._number = 0

    def fetch(self, timeout: float) -> bytes | None:
        """The delivery process's metrics now, or None if it did not answer in time."""
        with self._lock:
            self._number += 1
            number = self._number
            try:
                self._conn.send(number)
                while self._conn.poll(timeout):
                    reply: tuple[int, bytes] = self._conn.recv()
                    if reply[0] == number:
                        return reply[1]
                    # An earlier scrape's late reply: the figures it holds are stale.
            except (OSError, EOFError):
                return None
            return None

    def close(self) -> None:
        self._conn.close()


class MetricsServer:
    """The delivery process's end: answers each request with fresh figures."""

    def __init__(self, conn: Connection, produce: Callable[[], bytes]) -> None:
        self._conn = conn
        self._produce = produce

    def serve(self, timeout: float) -> bool:
        """Answer the requests that arrive within `timeout`; False if none did.

        Raises LinkClosed when the web process closed its end."""
        try:
            if not self._conn.poll(timeout):
                return False
            while True:
                number: int = self._conn.recv()
                self._conn.send((number, self._produce()))
                if not self._conn.poll(0):
                    return True
        except (OSError, EOFError) as exc:
            raise LinkClosed(type(exc).__name__) from None


@dataclass
class ChildEnds:
    """What the delivery process receives (picklable: multiprocessing passes the descriptors)."""

    wakes: socket.socket
    metrics: Connection


@dataclass
class ParentEnds:
    wakes: WakeSender
    metrics: MetricsClient

    def close(self) -> None:
        self.wakes.close()
        self.metrics.close()


def make_link(context: Any) -> tuple[ParentEnds, ChildEnds]:
    """A fresh pair of channels for one delivery process (`context`: a multiprocessing context)."""
    parent_sock, child_sock = socket.socketpair()
    parent_conn, child_conn = context.Pipe(duplex=True)
    return ParentEnds(WakeSender(parent_sock), MetricsClient(parent_conn)), ChildEnds(
        child_sock, child_conn
    )
