"""What `bench/storm.py` reports about storm folding (BRIDGE_STORM_FOLD=on).

Read from the outside, as on-call and the vendors see it: the PagerDuty replica's events
(storm incidents are the triggers whose `dedup_key` is a storm key), the Slack replica's
messages (the storm's message, its updates and thread lines) and the bridge's own
`GET /alerts` (every alert stored, and the storm it was folded into).
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from common import print_table

STORM_KEY_PREFIX = "dgx-spark-bridge/storm/"
# The bridge's alert list pages at most this many alerts per request.
PAGE = 500
_STORM_ID = re.compile(r"storm=(\d+)")
HTTP_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Listed:
    """An alert as `GET /alerts` shows it."""

    fingerprint: str
    status: str
    storm: int | None


def list_alerts(base_url: str) -> dict[str, Listed]:
    """Every alert the bridge lists, through `GET /alerts` (paged with `offset`)."""
    found: dict[str, Listed] = {}
    offset = 0
    while True:
        url = f"{base_url}/alerts?limit={PAGE}&offset={offset}"
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as answer:  # noqa: S310
            page = json.load(answer)["alerts"]
        for a in page:
            storm = a.get("storm")
            found[a["fingerprint"]] = Listed(
                a["fingerprint"], a["status"], storm["id"] if storm else None
            )
        offset += len(page)
        if len(page) < PAGE:
            return found


def is_storm_event(event: dict[str, Any]) -> bool:
    return str(event.get("dedup_key", "")).startswith(STORM_KEY_PREFIX)


def storm_of_event(event: dict[str, Any]) -> int | None:
    """The storm id a storm trigger links to (its `alert list` detail)."""
    details = (event.get("payload") or {}).get("custom_details") or {}
    match = _STORM_ID.search(str(details.get("alert list", "")))
    return int(match.group(1)) if match else None


def storm_messages(slack: Any) -> dict[int, Any]:
    """Storm id -> the storm's top-level Slack message (its footer links the storm)."""
    found = {}
    for message in slack.top_level():
        match = _STORM_ID.search(json.dumps(message.blocks or []))
        if match and " storm" in (message.text or ""):
            found[int(match.group(1))] = message
    return found


def max_in_window(times: Sequence[float], window: float) -> int:
    ordered = sorted(times)
    return max(
        (sum(1 for t in ordered[i:] if t < start + window) for i, start in enumerate(ordered)),
        default=0,
    )


def report_folding(
    *,
    acked: set[str],
    listed: dict[str, Listed],
    pd_events: list[dict[str, Any]],
    slack: Any,
    t0: float,
    newcomer_fp: str,
    dedup_prefix: str,
) -> None:
    """Storm incidents, their PagerDuty events per minute, Slack messages about the storm in
    the first minute, and alerts lost (acked, yet not listed, or neither paged on their own
    nor folded into a storm incident PagerDuty accepted)."""
    storm_events = [e for e in pd_events if is_storm_event(e)]
    paged_storms = {s for e in storm_events if (s := storm_of_event(e)) is not None}
    own_keys = {str(e["dedup_key"]).removeprefix(dedup_prefix) for e in pd_events}
    messages = storm_messages(slack)

    missing = acked - set(listed)
    folded = {fp for fp in acked & set(listed) if listed[fp].storm is not None}
    folded_paged = {fp for fp in folded if listed[fp].storm in paged_storms}
    folded_posted = {fp for fp in folded if listed[fp].storm in messages}
    paged_alone = (acked & own_keys) - folded
    lost_pd = acked - paged_alone - folded_paged
    newcomer = listed.get(newcomer_fp)

    print()
    print("storm folding (as PagerDuty, Slack and GET /alerts show it)")
    rows: list[list[Any]] = [
        ["storm incidents (distinct storm dedup_keys at PagerDuty)", len(paged_storms)],
        ["acked storm alerts listed in GET /alerts", f"{len(acked) - len(missing)} / {len(acked)}"],
        ["  paged on their own (before the storm began)", len(paged_alone)],
        ["  folded into a storm incident", len(folded)],
        ["  lost (not listed, or neither paged nor in a paged storm)", len(missing | lost_pd)],
        ["  folded, storm posted to Slack", len(folded_posted)],
        [
            "newcomer folded?",
            "n/a" if newcomer is None else ("no" if newcomer.storm is None else "yes"),
        ],
    ]
    print_table(["measure", "value"], rows)

    print()
    print("PagerDuty events for the storm (t s from the first POST)")
    times = [e["received_at"] - t0 for e in storm_events]
    event_rows = []
    for event, at in zip(storm_events, times, strict=True):
        details = event["payload"]["custom_details"] if "payload" in event else {}
        event_rows.append(
            [
                f"{at:.1f}",
                event["event_action"],
                details.get("folded alerts", ""),
                details.get("nodes", ""),
                str(event.get("payload", {}).get("summary", ""))[:90],
            ]
        )
    print_table(["t s", "action", "folded alerts", "nodes", "summary"], event_rows)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    print(
        f"storm events: {len(times)}; most in any 60 s window: {max_in_window(times, 60.0)}; "
        f"shortest gap between two: {min(gaps):.1f} s"
        if gaps
        else f"storm events: {len(times)}"
    )

    print()
    print("Slack about the storm in the first minute (t0 .. t0 + 60 s)")
    slack_rows = []
    for storm_id, message in sorted(messages.items()):
        replies = [r for r in message.replies if r.posted_at - t0 < 60.0]
        updates = [u for u in message.updates if u["received_at"] - t0 < 60.0]
        posted = 1 if message.posted_at - t0 < 60.0 else 0
        slack_rows.append(
            [
                storm_id,
                f"{message.posted_at - t0:.1f}",
                posted + len(replies),
                len(updates),
                len(message.replies),
                len(message.updates),
            ]
        )
    print_table(
        [
            "storm",
            "posted at t s",
            "messages 1st min (post + thread lines)",
            "updates 1st min",
            "thread lines total",
            "updates total",
        ],
        slack_rows,
    )
    first_minute = [m for m in slack.posts() if m.posted_at - t0 < 60.0]
    print(f"every Slack message posted in the first minute (storm or not): {len(first_minute)}")
