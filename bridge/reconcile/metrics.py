"""Reconciliation's figures in /metrics (the delivery side's registry: rounds run there)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ReconcileMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.rounds = Counter(
            "alert_bridge_reconcile_rounds",
            "Reconcile rounds by outcome: ok, failed (an Alertmanager failed, timed out or "
            "answered oddly), grace (an Alertmanager restarted recently), error (the bridge's).",
            ["outcome"],
            registry=registry,
        )
        self.resolves = Counter(
            "alert_bridge_reconcile_resolves",
            "Alerts resolved by reconciliation, by reason: silenced, inhibited, not_listed.",
            ["reason"],
            registry=registry,
        )
        self.added = Counter(
            "alert_bridge_reconcile_alerts_added",
            "Alerts active in Alertmanager that no webhook brought, ingested by reconciliation.",
            registry=registry,
        )
        self.last_success = Gauge(
            "alert_bridge_reconcile_last_success_timestamp_seconds",
            "When a reconcile round last concluded (Unix time; 0: never in this process).",
            registry=registry,
        )
        # Present from the start, so a dashboard sees 0 rather than nothing.
        for outcome in ("ok", "failed", "grace", "error"):
            self.rounds.labels(outcome)
        for reason in ("silenced", "inhibited", "not_listed"):
            self.resolves.labels(reason)
