"""The bridge's own metrics, in a registry per app so tests never share counters."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Alert-to-delivery latency: from the webhook commit to the vendor's answer.
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
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self.notifications = Counter(
            "alert_bridge_notifications",
            "Delivery attempts by channel and outcome (delivered, dry_run, retry, dead).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.delivery_latency = Histogram(
            "alert_bridge_delivery_latency_seconds",
            "Seconds from the alert being stored to its successful delivery.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch_outbox(self, depth: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_OutboxCollector(depth))
