"""What each process of `alert-bridge serve` builds, and nothing more.

- The web side (bridge/app.py): the shared services and a link to the delivery
  side; no notifiers, no enrichment pool, no scheduler.
- The delivery side (here): the shared services, the notifiers, the enricher,
  the delivery worker and the scheduled jobs. It imports no Flask, so the
  delivery process (bridge/delivery_process.py) does not load the web stack.

`--single-process` and the tests run both sides in one process, joined by a
`LocalDelivery` link.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import generate_latest

from bridge import scheduler
from bridge.enrich import build_enricher
from bridge.notify.registry import Notifier, build_notifiers
from bridge.services import Services
from bridge.worker import DeliveryWorker, RetryPolicy


class DeliveryLink(Protocol):
    """How the web side reaches the delivery side, wherever it runs."""

    def wake(self, jobs: int | None = None) -> None:
        """Outbox rows were committed: deliver them now."""

    def reconcile_now(self) -> None:
        """A webhook was cut (truncatedAlerts): reconcile with Alertmanager now."""

    def ingesting(self) -> AbstractContextManager[None]:
        """A webhook request is in progress (deliveries in this process give way)."""

    def metrics(self) -> bytes:
        """The delivery side's part of /metrics, read now."""

    def down_reason(self) -> str | None:
        """None while deliveries can run; otherwise why not (for /readyz)."""


@dataclass
class DeliverySide:
    services: Services
    worker: DeliveryWorker
    jobs: BackgroundScheduler | None = field(default=None)

    def start(self, *, scheduled_jobs: bool = True) -> None:
        self.worker.start()
        self.worker.wake()  # whatever a previous run left pending
        if scheduled_jobs:
            self.jobs = scheduler.start(self.services)

    def stop(self) -> None:
        """Finish in-flight work; pending rows stay pending for the next start."""
        if self.jobs is not None:
            self.jobs.shutdown(wait=True)
            self.jobs = None
        self.worker.stop()


def build_delivery_side(
    services: Services,
    *,
    notifiers: Mapping[str, Notifier] | None = None,
    worker_id: str | None = None,
) -> DeliverySide:
    settings = services.settings
    enricher = build_enricher(
        settings.prometheus_url,
        services.config.enrichment,
        budget=settings.enrich_budget_seconds,
        ca_bundle=settings.ca_bundle,
        clock=services.clock,
    )
    worker = DeliveryWorker(
        services.store,
        notifiers if notifiers is not None else build_notifiers(settings, services.clock),
        services.metrics,
        policy=RetryPolicy(settings.retry_base_seconds, settings.retry_max_seconds),
        clock=services.clock,
        enrich=enricher.enrich_job if enricher is not None else None,
        worker_id=worker_id,
    )
    services.wake = worker.wake
    return DeliverySide(services, worker)


class LocalDelivery:
    """Both sides in one process: wake-ups and metrics are plain calls."""

    def __init__(self, side: DeliverySide) -> None:
        self.side = side

    @property
    def worker(self) -> DeliveryWorker:
        return self.side.worker

    def wake(self, jobs: int | None = None) -> None:
        self.side.worker.wake(jobs)

    def reconcile_now(self) -> None:
        self.side.services.reconcile_now()

    def ingesting(self) -> AbstractContextManager[None]:
        return self.side.worker.ingesting()

    def metrics(self) -> bytes:
        return generate_latest(self.side.services.metrics.delivery_registry)

    def down_reason(self) -> str | None:
        return None
