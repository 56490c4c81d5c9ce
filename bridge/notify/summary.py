"""A channel summary's outbox row, read back for the Slack notifiers (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.store.outbox import Job
from bridge.store.rows import SUMMARY


@dataclass(frozen=True)
class Summary:
    text: str
    blocks: list[dict[str, Any]]
    channel: str | None  # None: the notifier's default channel


def is_summary(job: Job) -> bool:
    return job.action == SUMMARY


def summary_of(job: Job) -> Summary:
    stored = job.deliveries[0].snapshot.get("summary") or {}
    return Summary(
        text=str(stored.get("text") or ""),
        blocks=list(stored.get("blocks") or []),
        channel=stored.get("channel") or None,
    )
