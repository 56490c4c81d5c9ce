"""What one webhook payload's ingest answers: its counts and each alert's decision."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IngestResult:
    received: int
    new: int
    duplicates: int
    resolved: int
    notifications: int
    decisions: tuple[tuple[str, str], ...]  # (fingerprint, reason)
    suppressed: int = 0
    folded: int = 0  # new firings folded into a storm incident instead of paged
    batch: int = 1  # requests committed in the same transaction (group commit)

    def as_json(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "new": self.new,
            "duplicates": self.duplicates,
            "resolved": self.resolved,
            "notifications": self.notifications,
            "suppressed": self.suppressed,
            "folded": self.folded,
        }
