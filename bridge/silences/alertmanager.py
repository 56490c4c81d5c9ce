"""Alertmanager API v2 silences: the only calls the bridge makes to Alertmanager.

Only the configured `BRIDGE_ALERTMANAGER_URL`s are contacted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

# Seconds per call; the scheduler retries what fails, so failing fast is fine.
TIMEOUT_SECONDS = 5.0


class AlertmanagerError(Exception):
    """Unreachable or refused; the message is safe to store and show."""


class SilenceRefused(AlertmanagerError):
    """Alertmanager judged the silence itself invalid: sending it again cannot help."""


@dataclass(frozen=True)
class Silence:
    matchers: list[dict[str, Any]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str

    def as_api(self) -> dict[str, Any]:
        return {
            "matchers": self.matchers,
            "startsAt": self.starts_at.isoformat(),
            "endsAt": self.ends_at.isoformat(),
            "createdBy": self.created_by,
            "comment": self.comment,
        }


class AlertmanagerClient:
    def __init__(self, session: requests.Session | None = None) -> None:
        self._session = session or requests.Session()

    def _call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        try:
            response = self._session.request(method, url, timeout=TIMEOUT_SECONDS, **kwargs)
        except requests.RequestException as exc:
            raise AlertmanagerError(f"unreachable: {type(exc).__name__}") from None
        return response

    def create(self, base_url: str, silence: Silence) -> str:
        response = self._call("POST", f"{base_url}/api/v2/silences", json=silence.as_api())
        # A 400 also answers limits that may clear (0.28+: too many silences); only
        # "silence invalid" is about the silence itself.
        if response.status_code == 400 and "silence invalid" in response.text:
            raise SilenceRefused(f"HTTP 400: {response.text[:200]}")
        if response.status_code != 200:
            raise AlertmanagerError(f"HTTP {response.status_code}: {response.text[:200]}")
        silence_id: str = response.json()["silenceID"]
        return silence_id

    def get(self, base_url: str, silence_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"{base_url}/api/v2/silence/{silence_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AlertmanagerError(f"HTTP {response.status_code}: {response.text[:200]}")
        found: dict[str, Any] = response.json()
        return found

    def list(self, base_url: str) -> list[dict[str, Any]]:
        response = self._call("GET", f"{base_url}/api/v2/silences")
        if response.status_code != 200:
            raise AlertmanagerError(f"HTTP {response.status_code}: {response.text[:200]}")
        found: list[dict[str, Any]] = response.json()
        return found

    def expire(self, base_url: str, silence_id: str) -> None:
        response = self._call("DELETE", f"{base_url}/api/v2/silence/{silence_id}")
        # 404: already gone (expired and garbage-collected) counts as done.
        if response.status_code not in (200, 404):
            raise AlertmanagerError(f"HTTP {response.status_code}: {response.text[:200]}")
