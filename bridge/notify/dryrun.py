"""Dry-run: what would have been sent, recorded and logged as one readable line."""

from __future__ import annotations

import logging

from bridge.notify.result import Delivered, Outcome
from bridge.notify.summary import is_summary, summary_of
from bridge.notify.view import AlertView
from bridge.store.outbox import Job

log = logging.getLogger("bridge.dryrun")


class DryRunNotifier:
    def __init__(self, channel: str, why: str) -> None:
        self.channel = channel
        self._why = why

    def send(self, job: Job) -> Outcome:
        if is_summary(job):
            log.info("dry-run %s summary: %s (%s)", self.channel, summary_of(job).text, self._why)
            return Delivered(detail=f"dry-run: {self._why}", dry_run=True)
        for delivery in job.deliveries:
            alert = AlertView.from_snapshot(delivery.snapshot)
            log.info("dry-run %s %s: %s (%s)", self.channel, job.action, alert.headline, self._why)
        return Delivered(detail=f"dry-run: {self._why}", dry_run=True)
