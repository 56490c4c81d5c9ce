"""The Prometheus HTTP API client: the only place enrichment talks to Prometheus.

It only ever calls the configured `BRIDGE_PROMETHEUS_URL`; nothing from an alert payload
(`generatorURL`, labels) becomes a URL. Every call has a timeout, and every failure becomes a
`PrometheusError` whose message says in plain words what went wrong, because that message is
what the page shows as the reason context is missing.

API: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

from __future__ import annotations

import math
import threading
from typing import Any

import requests

from bridge.enrich.model import Sample, Series
from bridge.notify.result import truncate

# Keep per-connection setup off the hot path: a few pooled connections per worker thread.
POOL_SIZE = 8
MAX_REASON_CHARS = 200


class PrometheusError(Exception):
    """A query that gave no usable answer; `str()` is the reason shown to on-call."""

    def __init__(self, reason: str, *, systemic: bool = False) -> None:
        super().__init__(reason)
        # Prometheus down, hanging or failing as a whole (not one bad query): the next
        # queries will most likely fail the same way.
        self.systemic = systemic


def _seconds(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") + "s"


class PrometheusClient:
    def __init__(self, base_url: str, ca_bundle: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._verify: str | bool = ca_bundle or True
        # requests.Session is not documented thread-safe: one per thread.
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def query(self, expr: str, at: float, timeout: float) -> tuple[Sample, ...]:
        """Instant query evaluated at unix time `at`."""
        data = self._get("/api/v1/query", {"query": expr, "time": f"{at:.3f}"}, timeout)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "vector" and isinstance(result, list):
            return tuple(
                Sample(dict(item.get("metric", {})), _float(item["value"][1])) for item in result
            )
        if kind == "scalar" and isinstance(result, list):
            return (Sample({}, _float(result[1])),)
        raise PrometheusError(f"unexpected result type {kind!r} (expected an instant vector)")

    def query_range(
        self, expr: str, start: float, end: float, step: float, timeout: float
    ) -> tuple[Series, ...]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        data = self._get("/api/v1/query_range", params, timeout)
        result = data.get("result")
        if data.get("resultType") != "matrix" or not isinstance(result, list):
            raise PrometheusError(f"unexpected result type {data.get('resultType')!r}")
        return tuple(
            Series(
                dict(item.get("metric", {})),
                tuple((float(t), _float(v)) for t, v in item.get("values", [])),
            )
            for item in result
        )

    def _get(self, path: str, params: dict[str, str], timeout: float) -> dict[str, Any]:
        # Prometheus stops evaluating at its own `timeout` too, so an abandoned query does
        # not keep burning its CPU. Its durations take no decimals: whole milliseconds.
        params = {**params, "timeout": f"{max(1, int(timeout * 1000))}ms"}
        try:
            response = self._session().get(
                self.base_url + path, params=params, timeout=timeout, verify=self._verify
            )
        except requests.ConnectTimeout:
            raise PrometheusError(
                f"Prometheus did not accept a connection within {_seconds(timeout)}",
                systemic=True,
            ) from None
        except requests.ReadTimeout:
            raise PrometheusError(
                f"Prometheus did not answer within {_seconds(timeout)}", systemic=True
            ) from None
        except requests.ConnectionError as exc:
            raise PrometheusError(
                f"Prometheus unreachable ({_connection_reason(exc)})", systemic=True
            ) from None
        except requests.RequestException as exc:
            raise PrometheusError(f"request failed: {type(exc).__name__}") from None
        return _data(response)


def _connection_reason(exc: requests.ConnectionError) -> str:
    text = str(exc).lower()
    for needle, reason in (
        ("refused", "connection refused"),
        ("name or service not known", "host name not found"),
        ("nodename nor servname", "host name not found"),
        ("temporary failure in name resolution", "host name not found"),
        ("reset by peer", "connection reset"),
        ("remotedisconnected", "connection closed without an answer"),
        ("no route to host", "no route to host"),
        ("network is unreachable", "network unreachable"),
        ("certificate", "TLS certificate not trusted"),
    ):
        if needle in text:
            return reason
    return type(exc).__name__


def _float(value: Any) -> float:
    try:
        return float(value)  # Prometheus sends "NaN", "+Inf" as strings too
    except (TypeError, ValueError):
        return math.nan


def _data(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise PrometheusError(
            f"Prometheus answered HTTP {response.status_code} without a JSON body",
            systemic=response.status_code >= 500,
        )
    if response.status_code == 200 and body.get("status") == "success":
        data = body.get("data")
        if isinstance(data, dict):
            return data
    detail = truncate(
        f"{body.get('errorType', 'error')}: {body.get('error', 'no detail')}", MAX_REASON_CHARS
    )
    if 400 <= response.status_code < 500:
        # bad_data (400) and execution (422) errors: the query itself cannot work.
        raise PrometheusError(
            f"query rejected by Prometheus (HTTP {response.status_code}, {detail})"
        )
    raise PrometheusError(
        f"Prometheus error (HTTP {response.status_code}, {detail})",
        systemic=response.status_code >= 500,
    )
