"""Failed console sign-ins: a backoff per client, and a bounded number of log lines.

Both are decisions on values the caller passes (the client's address, the time): no I/O.
They live in the process, so each replica throttles on its own; that still bounds a
guesser to a few tries an hour per replica once the wait reaches its cap. The client is
the address the trusted proxies name (bridge/client_address.py): behind a proxy the
bridge is not told to trust, every client has the proxy's address and the backoff holds
everyone alike.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

# A client may get the token wrong this many times in a row before waiting.
FREE_FAILURES = 5
# Then it waits 1 s, 2 s, 4 s, … after each further failure, up to this.
MAX_WAIT_SECONDS = 15 * 60.0
# Failures this old are forgotten.
FORGET_AFTER_SECONDS = 60 * 60.0
# Clients remembered at most (the least recently failed are forgotten first), so that a
# flood from many addresses cannot grow the process without bound.
MAX_CLIENTS = 10_000
# At most one WARNING line per this many seconds about refused sign-ins, however many.
LOG_INTERVAL_SECONDS = 60.0


@dataclass
class _Failures:
    count: int
    last_at: float


class SignInThrottle:
    def __init__(self) -> None:
        self._clients: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many clients are remembered."""
        with self._lock:
            return len(self._clients)

    def wait_seconds(self, client: str, now: float) -> float:
        """How long `client` must wait before its next attempt is checked (0: go ahead)."""
        with self._lock:
            failures = self._clients.get(client)
        if failures is None or failures.count < FREE_FAILURES:
            return 0.0
        if now - failures.last_at >= FORGET_AFTER_SECONDS:
            return 0.0
        wait = min(2.0 ** (failures.count - FREE_FAILURES), MAX_WAIT_SECONDS)
        return max(0.0, failures.last_at + wait - now)

    def failed(self, client: str, now: float) -> None:
        with self._lock:
            failures = self._clients.pop(client, None)
            if failures is None or now - failures.last_at >= FORGET_AFTER_SECONDS:
                failures = _Failures(0, now)
            self._clients[client] = _Failures(failures.count + 1, now)
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)


class RefusalLog:
    """Says when to write a WARNING about a refused sign-in, and how many went unlogged."""

    def __init__(self) -> None:
        self._last_logged: float | None = None
        self._unlogged = 0
        self._lock = threading.Lock()

    def refused(self, now: float) -> int | None:
        """None: write no line now; otherwise write one, mentioning this many unlogged."""
        with self._lock:
            if self._last_logged is not None and now - self._last_logged < LOG_INTERVAL_SECONDS:
                self._unlogged += 1
                return None
            unlogged, self._unlogged, self._last_logged = self._unlogged, 0, now
            return unlogged
