"""What a delivery attempt came to, and the one shared classification of HTTP outcomes.

Like Alertmanager's notify/: each integration says whether a retry can help.
5xx, 429 and network errors retry (honouring `Retry-After`); any other 4xx
can never succeed and becomes a visible dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A Retry-After longer than this is treated as this: a vendor asking for an
# hour of silence should not hold a page for an hour.
MAX_RETRY_AFTER_SECONDS = 300.0


@dataclass(frozen=True)
class Delivered:
    detail: str = ""
    http_status: int | None = None
    # Vendor reference: PagerDuty dedup_key, Slack message ts.
    external_ref: str | None = None
    slack_channel: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class RetryLater:
    reason: str
    http_status: int | None = None
    retry_after: float | None = None  # seconds the vendor asked for


@dataclass(frozen=True)
class PermanentFailure:
    reason: str
    http_status: int | None = None


Outcome = Delivered | RetryLater | PermanentFailure


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, min((when - now).total_seconds(), MAX_RETRY_AFTER_SECONDS))


def classify_http(status: int, reason: str, retry_after: str | None = None) -> Outcome:
    """The retry decision for an HTTP answer that was not a success."""
    if status == 429:
        return RetryLater(f"rate limited: {reason}", status, parse_retry_after(retry_after))
    if status >= 500 or status == 408:
        return RetryLater(f"server error: {reason}", status, parse_retry_after(retry_after))
    return PermanentFailure(f"rejected: {reason}", status)


def backoff_seconds(attempts: int, base: float, cap: float) -> float:
    """Capped exponential backoff for the `attempts`-th failed attempt (1-based)."""
    exponent = max(0, min(attempts - 1, 20))
    return float(min(cap, base * (2**exponent)))


def truncate(text: str, limit: int, marker: str = "… [truncated]") -> str:
    """Cut `text` to `limit` characters, saying that it did."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker
