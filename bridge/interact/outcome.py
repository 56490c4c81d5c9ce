"""What an act did, for the HTTP answer, the ephemeral reply and the metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    acted: bool
    # For the person who clicked (ephemeral); None: the message update says it all.
    reply: str | None = None
    window_id: str | None = None
    seconds_to_acknowledge: float | None = None
    why: str = ""
