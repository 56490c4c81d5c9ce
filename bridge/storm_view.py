"""A storm incident as the message builders see it (pure dataclasses, no I/O).

Read from the database when a storm notification is claimed (store/storm_rows.py),
so a refresh that waited out its interval says what the storm is by then.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# Most severe first (PagerDuty's severities); any other label value ranks after them.
SEVERITY_ORDER = ("critical", "error", "warning", "info")


def most_severe(severities: Iterable[str]) -> str | None:
    """The most severe of `severities` (None when there are none): a storm of warnings
    that a critical joined is a critical storm."""
    ranked = sorted(
        set(severities),
        key=lambda s: (SEVERITY_ORDER.index(s) if s in SEVERITY_ORDER else len(SEVERITY_ORDER), s),
    )
    return ranked[0] if ranked else None


def leading_number(text: str) -> float | None:
    """The first number in `87 °C`, `0.93`, `high: 94.5 °C`; None when there is none."""
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


@dataclass(frozen=True)
class FoldedAlert:
    """One alert folded into a storm, as it is now."""

    fingerprint: str
    node: str
    gpu: str
    status: str
    value: str  # the alert's `value` annotation, e.g. `94 °C` ('' when absent)

    @property
    def where(self) -> str:
        """`dgx-spark-17 GPU 2`, `dgx-spark-17`, or the fingerprint when it has no place."""
        parts = [self.node] if self.node else []
        if self.gpu:
            parts.append(f"GPU {self.gpu}")
        return " ".join(parts) or self.fingerprint

    @property
    def number(self) -> float | None:
        return leading_number(self.value) if self.value else None


@dataclass(frozen=True)
class StormView:
    id: int
    alertname: str
    severity: str
    started_at: datetime
    ended_at: datetime | None
    last_fired_at: datetime
    fired_count: int  # folded firings (an alert that re-fired into it counts again)
    alerts: tuple[FoldedAlert, ...]
    slack_channel: str | None = None
    slack_ts: str | None = None
    slack_nodes: tuple[str, ...] = ()  # nodes its Slack message has announced
    # What people did about it (store/responses.py `as_dict`), and whether it paged.
    response: dict[str, Any] | None = None
    paged: bool = False

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(sorted({a.node for a in self.alerts if a.node}))

    @property
    def new_nodes(self) -> tuple[str, ...]:
        """Nodes that joined since the Slack message last announced them."""
        known = set(self.slack_nodes)
        return tuple(n for n in self.nodes if n not in known)

    @property
    def counts_by_node(self) -> list[tuple[str, int]]:
        """Folded alerts per node, most first (then by name)."""
        counts = Counter(a.node or "(no node)" for a in self.alerts)
        return sorted(counts.items(), key=lambda item: (-item[1], item[0]))

    @property
    def firing(self) -> tuple[FoldedAlert, ...]:
        return tuple(a for a in self.alerts if a.status == "firing")

    @property
    def all_gpus(self) -> bool:
        return bool(self.alerts) and all(a.gpu for a in self.alerts)

    def worst(self, n: int) -> list[FoldedAlert]:
        """The `n` alerts with the highest value (firing first), those without a number last."""
        return sorted(
            self.alerts,
            key=lambda a: (
                a.status != "firing",
                a.number is None,
                -(a.number or 0.0),
                a.where,
            ),
        )[:n]

    @property
    def ended(self) -> bool:
        return self.ended_at is not None
