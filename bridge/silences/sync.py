"""Bring Alertmanager in line with the stored occurrences (the scheduler calls this).

HA pair: the silence is created in the first Alertmanager that answers; the
others are checked for it (cluster gossip copies it with the same id) and only
get their own copy when it is still missing on the next pass, so a clustered
pair ends up with one silence and an unclustered pair with one each.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bridge.silences.alertmanager import (
    AlertmanagerClient,
    AlertmanagerError,
    Silence,
    SilenceRefused,
)

log = logging.getLogger(__name__)

# Marks an Alertmanager that was checked once and did not have the silence yet.
NOT_YET = ""
# What Alertmanager 0.28+ answers when `--silences.max-silences` is reached (expired silences
# count until their retention ends, so recurring windows reach it over days).
SILENCE_LIMIT = "maximum number of silences"
LIMIT_ADVICE = (
    " (Alertmanager's --silences.max-silences counts expired silences too, until its"
    " --data.retention: raise the limit or make recurring windows less frequent)"
)


@dataclass(frozen=True)
class SyncResult:
    am_silences: dict[str, str]
    state: str
    error: str | None


def tag(occurrence: dict[str, Any]) -> str:
    return (
        f"[alert-bridge window {occurrence['window_id']} at {occurrence['starts_at'].isoformat()}]"
    )


def _find_tagged(client: AlertmanagerClient, url: str, wanted: Silence, marker: str) -> str | None:
    # Only silences with the window's own matchers are asked for: Alertmanager 0.32+ refuses
    # its whole unfiltered list (HTTP 500) while it holds a silence of several matcher sets
    # (made by a newer peer), but filters before it converts, so such a silence stays out.
    for silence in client.list(url, wanted.matchers):
        state = (silence.get("status") or {}).get("state")
        if marker in str(silence.get("comment", "")) and state != "expired":
            return str(silence["id"])
    return None


def create_everywhere(
    occurrence: dict[str, Any], urls: Sequence[str], client: AlertmanagerClient
) -> SyncResult:
    silences = dict(occurrence["am_silences"] or {})
    marker = tag(occurrence)
    silence = Silence(
        matchers=occurrence["matchers"],
        starts_at=occurrence["starts_at"],
        ends_at=occurrence["ends_at"],
        created_by=occurrence["created_by"],
        comment=f"{occurrence['comment']} {marker}",
    )
    errors = []
    refused = False
    created_somewhere = any(silences.values())
    for url in urls:
        if silences.get(url):
            continue
        try:
            found = _find_tagged(client, url, silence, marker)
            if found:
                silences[url] = found
            elif not created_somewhere or silences.get(url) == NOT_YET:
                silences[url] = client.create(url, silence)
                created_somewhere = True
            else:
                silences[url] = NOT_YET  # give gossip one pass to copy it here
        except SilenceRefused as exc:
            # Never retried (a window stored before the bridge refused what Alertmanager
            # refuses would otherwise warn every 30 s forever): shown as invalid. Unlike
            # "refused" (a limit, retried as it frees up), sending it again cannot help.
            return SyncResult(silences, "invalid", f"{url}: {exc}")
        except AlertmanagerError as exc:
            # A 4xx is Alertmanager saying no (its silence limit, a matcher it will not take),
            # not a network hiccup: shown as such. Still retried, as the limit frees up.
            if exc.status is not None and 400 <= exc.status < 500:
                refused = True
                advice = LIMIT_ADVICE if SILENCE_LIMIT in str(exc) else ""
                errors.append(f"{url}: Alertmanager refused the silence: {exc}{advice}")
            else:
                errors.append(f"{url}: {exc}")
    done = all(silences.get(url) for url in urls)
    state = "synced" if done else "refused" if refused else "pending"
    return SyncResult(silences, state, "; ".join(errors) or None)


def expire_everywhere(
    occurrence: dict[str, Any], urls: Sequence[str], client: AlertmanagerClient
) -> SyncResult:
    silences = dict(occurrence["am_silences"] or {})
    ids = {i for i in silences.values() if i}
    errors = []
    for url in urls:
        for silence_id in ids:
            try:
                current = client.get(url, silence_id)
                if current is None or (current.get("status") or {}).get("state") == "expired":
                    continue
                client.expire(url, silence_id)
            except AlertmanagerError as exc:
                errors.append(f"{url}: {exc}")
    return SyncResult(silences, "expiring" if errors else "expired", "; ".join(errors) or None)


def sync_occurrence(
    occurrence: dict[str, Any], urls: Sequence[str], client: AlertmanagerClient
) -> SyncResult:
    if occurrence["sync_state"] == "expiring":
        return expire_everywhere(occurrence, urls, client)
    return create_everywhere(occurrence, urls, client)
