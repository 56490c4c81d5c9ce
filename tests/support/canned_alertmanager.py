"""Fixed answers of Alertmanager's v2 API for a reconcile round's own session (a requests
adapter: no network), where a test is about the bridge's side of a round, not Alertmanager's
(its behaviour against a real Alertmanager is tests/e2e/test_reconcile.py's)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import requests
import requests.adapters


class CannedAlertmanager(requests.adapters.BaseAdapter):
    """Answers GET /api/v2/status (started long ago) and /api/v2/alerts with fixed JSON."""

    def __init__(self, alerts: list[dict[str, Any]]) -> None:
        super().__init__()
        self._alerts = alerts

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:
        path = urlsplit(request.url or "").path
        body: Any = {"uptime": "2020-01-01T00:00:00Z"} if path.endswith("/status") else []
        if path.endswith("/alerts"):
            body = self._alerts
        response = requests.Response()
        response.status_code = 200
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = request
        return response

    def close(self) -> None:
        pass


class UnreachableAlertmanager(requests.adapters.BaseAdapter):
    """Every call fails as a refused connection does."""

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:
        raise requests.ConnectionError("connection refused (canned)")

    def close(self) -> None:
        pass
