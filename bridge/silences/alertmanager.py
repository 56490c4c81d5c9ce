"""Alertmanager API v2 silences: the only calls the bridge makes to Alertmanager.

Only the configured `BRIDGE_ALERTMANAGER_URL`s are contacted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

# Seconds per call; the scheduler retries what fails, so failing fast is fine.
TIMEOUT_SECONDS = 5.0
# How Alertmanager words a 400 about the silence itself, oldest and newest ends.
INVALID_SILENCE = ("silence invalid", "invalid silence")
# Label names every Alertmanager's filter parser takes unquoted (0.25 knows no other).
_LEGACY_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


class AlertmanagerError(Exception):
    """Unreachable or refused; the message is safe to store and show. `status` is the HTTP
    status of a refusal (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _refused(response: requests.Response) -> AlertmanagerError:
    return AlertmanagerError(
        f"HTTP {response.status_code}: {response.text[:200]}", response.status_code
    )


def filter_expression(matcher: Mapping[str, Any]) -> str | None:
    """A window matcher as a `filter` of `GET /api/v2/silences`, e.g. `node="dgx-spark-02"`.

    Alertmanager lists a silence for a filter when the silence has a matcher of the same
    name, operator and value. None for a name the filter parser of old versions cannot take
    (the filter only narrows the list, so leaving one out is safe).
    """
    name = str(matcher["name"])
    if not _LEGACY_NAME.match(name):
        return None
    regex, equal = bool(matcher.get("isRegex")), matcher.get("isEqual", True) is not False
    operator = ("=~" if regex else "=") if equal else ("!~" if regex else "!=")
    value = str(matcher["value"]).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{name}{operator}"{value}"'


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
        # A 400 also answers limits that may clear (0.28+: too many silences); only "silence
        # invalid" (0.25) or "invalid silence" (0.33) is about the silence itself.
        if response.status_code == 400 and any(w in response.text for w in INVALID_SILENCE):
            raise SilenceRefused(f"HTTP 400: {response.text[:200]}")
        if response.status_code != 200:
            raise _refused(response)
        silence_id: str = response.json()["silenceID"]
        return silence_id

    def get(self, base_url: str, silence_id: str) -> dict[str, Any] | None:
        response = self._call("GET", f"{base_url}/api/v2/silence/{silence_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _refused(response)
        found: dict[str, Any] = response.json()
        return found

    def list(
        self, base_url: str, matchers: Sequence[Mapping[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        """Silences holding all of `matchers` (every silence without them)."""
        filters = [f for f in map(filter_expression, matchers) if f is not None]
        response = self._call(
            "GET", f"{base_url}/api/v2/silences", params=[("filter", f) for f in filters]
        )
        if response.status_code == 400 and filters:
            # A filter Alertmanager cannot parse (a window stored before the bridge refused
            # what Alertmanager refuses): the whole list, so that creating the silence tells
            # why, as invalid.
            response = self._call("GET", f"{base_url}/api/v2/silences")
        if response.status_code != 200:
            raise _refused(response)
        found: list[dict[str, Any]] = response.json()
        return found

    def expire(self, base_url: str, silence_id: str) -> None:
        response = self._call("DELETE", f"{base_url}/api/v2/silence/{silence_id}")
        # 404: already gone (expired and garbage-collected) counts as done.
        if response.status_code not in (200, 404):
            raise _refused(response)
