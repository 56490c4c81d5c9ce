"""An alert as the message builders see it, and the links every message carries.

Built from the outbox snapshot, so a retry says exactly what the first attempt
said. Links are built from configured base URLs; the payload's own URLs
(`generatorURL`) are shown as links but never fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

SEVERITY_ORDER = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class AlertView:
    fingerprint: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any]) -> AlertView:
        ends = snap.get("ends_at")
        return cls(
            fingerprint=str(snap.get("fingerprint", "")),
            status=str(snap.get("status", "firing")),
            labels=dict(snap.get("labels") or {}),
            annotations=dict(snap.get("annotations") or {}),
            starts_at=datetime.fromisoformat(snap["starts_at"]),
            ends_at=datetime.fromisoformat(ends) if ends else None,
            generator_url=str(snap.get("generator_url") or ""),
        )

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "") or "unknown"

    @property
    def node(self) -> str:
        return self.labels.get("node") or self.labels.get("instance", "")

    @property
    def gpu(self) -> str:
        return self.labels.get("gpu", "")

    @property
    def where(self) -> str:
        """`dgx-spark-01 GPU 0`, `dgx-spark-01`, or '' when the alert has no place."""
        parts = [self.node] if self.node else []
        if self.gpu:
            parts.append(f"GPU {self.gpu}")
        return " ".join(parts)

    @property
    def key_fact(self) -> str:
        """The number that matters, e.g. `87 °C (threshold 85 °C)`, else the summary."""
        value = self.annotations.get("value", "")
        threshold = self.annotations.get("threshold", "")
        if value:
            return f"{value} (threshold {threshold})" if threshold else value
        return self.annotations.get("summary", "") or self.annotations.get("description", "")

    @property
    def headline(self) -> str:
        """`[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: 87 °C (threshold 85 °C)`."""
        text = f"[{self.severity.upper()}] {self.name}"
        if self.where:
            text += f" on {self.where}"
        if self.key_fact:
            text += f": {self.key_fact}"
        return text


@dataclass(frozen=True)
class LinkBase:
    """Configured base URLs (settings), the only hosts links point at besides generatorURL."""

    grafana_url: str
    alertmanager_url: str
    runbook_base_url: str = ""
    public_url: str | None = None


DASHBOARD_GPU = "dgx-spark-gpu-details"
DASHBOARD_OVERVIEW = "dgx-spark-overview"


def links_for(alert: AlertView, base: LinkBase) -> list[dict[str, str]]:
    """Runbook, dashboard, silence form and the Prometheus graph, in that order."""
    links: list[dict[str, str]] = []
    runbook = alert.annotations.get("runbook_url") or (
        f"{base.runbook_base_url}/{alert.name}.md" if base.runbook_base_url else ""
    )
    if runbook:
        links.append({"href": runbook, "text": "Runbook"})
    links.append({"href": dashboard_url(alert, base), "text": "Grafana dashboard"})
    links.append({"href": silence_url(alert, base), "text": "Silence in Alertmanager"})
    if alert.generator_url.startswith(("http://", "https://")):
        links.append({"href": alert.generator_url, "text": "Prometheus graph"})
    return links


def dashboard_url(alert: AlertView, base: LinkBase) -> str:
    uid = DASHBOARD_GPU if alert.gpu or alert.name.startswith("GPU") else DASHBOARD_OVERVIEW
    params = {"from": "now-1h", "to": "now"}
    if alert.node:
        params["var-node"] = alert.node
    if alert.gpu:
        params["var-gpu"] = alert.gpu
    return f"{base.grafana_url}/d/{uid}?{urlencode(params)}"


def silence_url(alert: AlertView, base: LinkBase) -> str:
    matchers = {"alertname": alert.name}
    if alert.node:
        matchers["node"] = alert.node
    expr = "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in matchers.items()) + "}"
    return f"{base.alertmanager_url}/#/silences/new?filter={quote(expr)}"
