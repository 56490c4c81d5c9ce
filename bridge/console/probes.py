"""Reachability of Prometheus and Alertmanager for the overview (I/O, configured URLs only).

Probes run in parallel with a short timeout. Their answers are kept for a few seconds and
then refreshed in the background while pages show the last answers, so a page waits for
probes only once, on the first request after start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import requests

from bridge.console.overview import Probe

PROBE_TIMEOUT_SECONDS = 1.0
PROBE_CACHE_SECONDS = 10.0
READY_PATH = "/-/ready"


def probe(name: str, base_url: str, timeout: float = PROBE_TIMEOUT_SECONDS) -> Probe:
    try:
        response = requests.get(base_url + READY_PATH, timeout=timeout, allow_redirects=False)
    except requests.Timeout:
        return Probe(name, base_url, False, f"no answer within {timeout:g} s")
    except requests.RequestException as exc:
        # The class name only: the message may carry the URL's credentials.
        return Probe(name, base_url, False, f"unreachable ({type(exc).__name__})")
    if response.status_code == 200:
        return Probe(name, base_url, True, "ready")
    return Probe(name, base_url, False, f"answers HTTP {response.status_code}")


class Prober:
    """Probes of the configured URLs, cached for `PROBE_CACHE_SECONDS` (stale while refreshed)."""

    def __init__(self, prometheus_url: str, alertmanager_urls: Sequence[str]) -> None:
        many = len(alertmanager_urls) > 1
        self.targets = [("Prometheus", prometheus_url)] + [
            (f"Alertmanager {i + 1}" if many else "Alertmanager", url)
            for i, url in enumerate(alertmanager_urls)
        ]
        self._lock = threading.Lock()
        self._first = threading.Lock()
        self._at = float("-inf")
        self._refreshing = False
        self._last: list[Probe] | None = None

    def _probe_all(self) -> list[Probe]:
        with ThreadPoolExecutor(max_workers=len(self.targets)) as pool:
            return list(pool.map(lambda t: probe(*t), self.targets))

    def _refresh(self) -> None:
        try:
            results = self._probe_all()
            with self._lock:
                self._last, self._at = results, time.monotonic()
        finally:
            with self._lock:
                self._refreshing = False

    def results(self) -> list[Probe]:
        with self._lock:
            last, stale = self._last, time.monotonic() - self._at >= PROBE_CACHE_SECONDS
            if last is not None and stale and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="console-probes", daemon=True).start()
        if last is not None:
            return last
        with self._first:  # the first page after start waits for one round, once
            if self._last is None:
                results = self._probe_all()
                with self._lock:
                    self._last, self._at = results, time.monotonic()
            return self._last
