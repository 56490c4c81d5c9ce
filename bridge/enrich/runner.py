"""Run enrichment I/O in parallel under one deadline, with a short-lived shared cache.

- Parallel: every query of an alert is submitted at once to a bounded thread pool.
- Budget: the caller waits until its deadline and no longer; whatever has not answered by
  then is reported missing, and the notification goes out on time.
- Cache per key (the rendered query, i.e. query + labels): the PagerDuty and Slack
  deliveries of one alert, enriched by two worker threads at about the same moment, share one
  request (single flight), and a result is reused for `ttl` seconds. Failures are not kept.
- Breaker: after Prometheus as a whole failed (down, hanging, 5xx), queries fail fast for a
  few seconds instead of each waiting out its timeout, so an alert storm during a Prometheus
  outage does not delay every page by the full budget.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from bridge.enrich.model import Failure

T = TypeVar("T")

DEFAULT_WORKERS = 16
MAX_CACHE_ENTRIES = 2048
MonotonicClock = Callable[[], float]


class Breaker:
    """Open for `cooldown` seconds after a systemic failure; says why while open."""

    def __init__(self, cooldown: float, clock: MonotonicClock = time.monotonic) -> None:
        self.cooldown = cooldown
        self._clock = clock
        self._lock = threading.Lock()
        self._until = 0.0
        self._reason = ""

    def trip(self, reason: str) -> None:
        with self._lock:
            self._until = self._clock() + self.cooldown
            self._reason = reason

    def reset(self) -> None:
        with self._lock:
            self._until = 0.0

    def open_reason(self) -> str | None:
        with self._lock:
            if self._clock() >= self._until:
                return None
            return f"{self._reason} (not retried for {self.cooldown:g}s after that failure)"


class Runner:
    def __init__(
        self,
        *,
        workers: int = DEFAULT_WORKERS,
        ttl: float = 30.0,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="enrich")
        self._lock = threading.Lock()
        self._cache: OrderedDict[Hashable, tuple[float, Future[Any]]] = OrderedDict()

    def submit(self, key: Hashable | None, fn: Callable[[], T]) -> Future[T]:
        """`fn` on the pool; with a key, an answer in flight or fresh in the cache is reused."""
        if key is None or self.ttl <= 0:
            return self._pool.submit(fn)
        now = self._clock()
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None:
                expires, future = entry
                failed = future.done() and future.exception() is not None
                if expires > now and not failed:
                    return future
                del self._cache[key]
            future = self._pool.submit(fn)
            self._cache[key] = (now + self.ttl, future)
            self._trim(now)
        future.add_done_callback(lambda f: self._forget_failure(key, f))
        return future

    def clear_cache(self) -> None:
        """Forget every cached answer (in-flight requests finish for their callers)."""
        with self._lock:
            self._cache.clear()

    def _forget_failure(self, key: Hashable, future: Future[Any]) -> None:
        if future.exception() is None:
            return
        with self._lock:
            entry = self._cache.get(key)
            if entry is not None and entry[1] is future:
                del self._cache[key]

    def _trim(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._cache.items() if expires <= now]:
            del self._cache[key]
        while len(self._cache) > MAX_CACHE_ENTRIES:
            self._cache.popitem(last=False)

    def gather(
        self,
        futures: Mapping[str, Future[T]],
        deadline: float,
        describe_error: Callable[[BaseException], str],
        late: str,
    ) -> dict[str, T | Failure]:
        """Each future's result, or a `Failure`: its error described, or `late` when it
        had not finished by the deadline."""
        wait(list(futures.values()), timeout=max(0.0, deadline - self._clock()))
        results: dict[str, T | Failure] = {}
        for name, future in futures.items():
            if not future.done():
                results[name] = Failure(late)
                continue
            error = future.exception()
            results[name] = Failure(describe_error(error)) if error else future.result()
        return results

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
