"""The one-line Slack notes written when they fall due: reminders and flapping notices.

Pure, and escaped on the one mrkdwn path: the alert name and its place are payload text.
The store calls these when it queues the note, so a retry posts exactly the same line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from bridge.notify.mrkdwn import escape, truncate

# A thread reply's `text`; Slack's own limit is 40,000, a reply should read as one line.
MAX_NOTE_CHARS = 3000


def where(labels: Mapping[str, str]) -> str:
    """` on dgx-spark-01 GPU 0`, escaped; '' when the alert has no place."""
    parts = [labels.get("node", "") or labels.get("instance", "")]
    if labels.get("gpu"):
        parts.append(f"GPU {labels['gpu']}")
    text = " ".join(p for p in parts if p)
    return f" on {escape(text)}" if text else ""


def reminder_note(name: str, labels: Mapping[str, str], lasted: str) -> str:
    line = f":alarm_clock: Still firing after {lasted}: {escape(name)}{where(labels)}."
    return truncate(line, MAX_NOTE_CHARS)


def flap_note(name: str, labels: Mapping[str, str], changes: int, window: str, stable: str) -> str:
    line = (
        f":warning: {escape(name)}{where(labels)} is flapping: {changes} state changes in "
        f"{window}. Notifications are paused (a PagerDuty incident stays as it is) until it "
        f"has been stable for {stable}."
    )
    return truncate(line, MAX_NOTE_CHARS)


def stable_note(
    name: str, labels: Mapping[str, str], status: str, changes: int, since: datetime
) -> str:
    line = (
        f":ok_hand: {escape(name)}{where(labels)} is stable again ({status}) after "
        f"flapping: {changes} state changes since "
        f"{since.strftime('%Y-%m-%d %H:%M UTC')}; notifications resumed."
    )
    return truncate(line, MAX_NOTE_CHARS)
