"""The bridge's own metrics, in a registry per app so tests never share counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bridge.reconcile.metrics import ReconcileMetrics

# Alert-to-delivery latency: from the webhook commit to the vendor's answer.
# From an alert starting to someone acknowledging it: minutes to hours.
BATCH_BUCKETS = (1, 2, 4, 8, 16)
ACK_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class _OutboxCollector(Collector):
    """Outbox depth read from the database at scrape time (every replica sees the same)."""

    def __init__(self, depth: Callable[[], dict[str, int]]) -> None:
        self._depth = depth

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "alert_bridge_outbox_depth",
            "Deliveries by state: pending, in_flight, dead (dead letters).",
            labels=["status"],
        )
        try:
            depth = self._depth()
        except Exception:  # database down: /metrics must still answer
            return
        for status, count in sorted(depth.items()):
            family.add_metric([status], count)
        yield family


class BridgeMetrics:
    """Two registries: what the web process counts, and what delivery and jobs count.

    `alert-bridge serve` runs deliveries and jobs in a child process; the web
    process then shows the child's part through `delivery_source`.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.delivery_registry = CollectorRegistry()
        self.delivery_source: Callable[[], bytes] | None = None
        self.alerts_received = Counter(
            "alert_bridge_alerts_received",
            "Alerts received from Alertmanager, by status.",
            ["status"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "alert_bridge_alerts_duplicates",
            "Alerts that changed nothing (repeats, HA peers, stale sends).",
            registry=self.registry,
        )
        self.webhook_requests = Counter(
            "alert_bridge_webhook_requests",
            "Webhook requests by HTTP status code.",
            ["code"],
            registry=self.registry,
        )
        self.ingest_batch = Histogram(
            "alert_bridge_webhook_batch_requests",
            "Webhook requests by how many requests their transaction committed together "
            "(group commit: 1 when alone).",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.interactions = Counter(
            "alert_bridge_interactions",
            "Slack clicks and PagerDuty webhooks by source, what came of them, and HTTP code.",
            ["source", "action", "code"],
            registry=self.registry,
        )
        self.time_to_acknowledge = Histogram(
            "alert_bridge_time_to_acknowledge_seconds",
            "Seconds from an alert starting to its first acknowledgement, by where it came from.",
            ["source"],
            buckets=ACK_BUCKETS,
            registry=self.registry,
        )
        self.notifications = Counter(
            "alert_bridge_notifications",
            "Delivery attempts by channel and outcome (delivered, dry_run, retry, dead).",
            ["channel", "outcome"],
            registry=self.delivery_registry,
        )
        self.delivery_latency = Histogram(
            "alert_bridge_delivery_latency_seconds",
            "Seconds from the alert being stored to its successful delivery.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.delivery_registry,
        )

        self.job_last_run = Gauge(
            "alert_bridge_job_last_run_timestamp_seconds",
            "When each scheduled job last ran (Unix time).",
            ["job"],
            registry=self.delivery_registry,
        )
        self.job_duration = Gauge(
            "alert_bridge_job_last_duration_seconds",
            "How long each scheduled job's last run took.",
            ["job"],
            registry=self.delivery_registry,
        )
        self.job_success = Gauge(
            "alert_bridge_job_last_success",
            "1 when each scheduled job's last run succeeded, 0 when it failed.",
            ["job"],
            registry=self.delivery_registry,
        )
        self.reconcile = ReconcileMetrics(self.delivery_registry)
        self.job_runs = Counter(
            "alert_bridge_job_runs",
            "Scheduled job runs by outcome (ok, failed).",
            ["job", "outcome"],
            registry=self.delivery_registry,
        )

    def record_job(self, job: str, started: float, duration: float, ok: bool) -> None:
        self.job_last_run.labels(job).set(started)
        self.job_duration.labels(job).set(duration)
        self.job_success.labels(job).set(1 if ok else 0)
        self.job_runs.labels(job, "ok" if ok else "failed").inc()

    def exposition(self) -> bytes:
        """The text of /metrics: this process's part, then deliveries' and jobs'."""
        delivery = (
            self.delivery_source()
            if self.delivery_source is not None
            else generate_latest(self.delivery_registry)
        )
        return generate_latest(self.registry) + delivery

    def watch_outbox(self, depth: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_OutboxCollector(depth))
