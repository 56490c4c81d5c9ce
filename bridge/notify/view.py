"""An alert as the message builders see it, and the links every message carries.

Built from the outbox snapshot, so a retry says exactly what the first attempt
said. Links are built from configured base URLs; the payload's own URLs
(`generatorURL`) are shown as links but never fetched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    # For buttons (bridge/interact): the alert's row, whether it paged, what people did.
    alert_id: int | None = None
    paged: bool = False
    response: dict[str, Any] | None = None
    # Why the bridge resolved it when Alertmanager sent no resolve (bridge/reconcile).
    resolve_reason: str = ""

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
            alert_id=snap["alert_id"] if isinstance(snap.get("alert_id"), int) else None,
            paged=bool(snap.get("paged")),
            response=snap["response"] if isinstance(snap.get("response"), dict) else None,
            resolve_reason=str(snap.get("resolve_reason") or ""),
        )

    @property
    def name(self) -> str:
        # An empty alertname is possible (the webhook needs labels, not this one), and an
        # empty text object is one Slack refuses.
        return self.labels.get("alertname") or "alert"

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
        return self.headline_with(self.key_fact)

    def fact_with(self, context_key: str) -> str:
        """The key fact, taking enrichment's number when the alert carries no `value`.

        The stack's rules put the number in `summary`; enrichment's key (`87 °C, trend
        +1.7 °C/min`) is fresher and says more, so it wins over the summary, not over `value`.
        """
        if self.annotations.get("value") or not context_key:
            return self.key_fact
        threshold = self.annotations.get("threshold", "")
        return f"{context_key} (threshold {threshold})" if threshold else context_key

    def headline_with(self, fact: str) -> str:
        text = f"[{self.severity.upper()}] {self.name}"
        if self.where:
            text += f" on {self.where}"
        if fact:
            text += f": {fact}"
        return text


@dataclass(frozen=True)
class LinkBase:
    """Configured base URLs (settings), the only hosts links point at besides generatorURL.

    All are the addresses people open (external URLs), never the API URLs the bridge uses.
    """

    grafana_url: str
    alertmanager_url: str
    runbook_base_url: str = ""
    public_url: str | None = None


DASHBOARD_GPU = "dgx-spark-gpu-details"
DASHBOARD_OVERVIEW = "dgx-spark-overview"
# The panel that shows each alert's metric (grafana/dashboards/*.json panel ids).
PANEL_OF_ALERT: dict[str, tuple[str, int]] = {
    "GPUTemperatureCritical": (DASHBOARD_GPU, 11),
    "GPUTemperatureWarning": (DASHBOARD_GPU, 11),
    "GPUThermalThrottling": (DASHBOARD_GPU, 17),
    "GPUHardwareSlowdown": (DASHBOARD_GPU, 17),
    "GPUMemoryExhausted": (DASHBOARD_GPU, 5),
    "GPUMemoryHigh": (DASHBOARD_GPU, 5),
    "GPUXIDError": (DASHBOARD_GPU, 20),
    "GPUUnderutilized": (DASHBOARD_GPU, 2),
    "DGXSparkNodeDown": (DASHBOARD_OVERVIEW, 14),
    "ExporterDown": (DASHBOARD_OVERVIEW, 14),
    "HighCPUUsage": (DASHBOARD_OVERVIEW, 10),
    "HighMemoryUsage": (DASHBOARD_OVERVIEW, 11),
    "NodeOOMKill": (DASHBOARD_OVERVIEW, 19),
}
# The panel opens on the hour before the alert started, up to now (or the end).
PANEL_LEAD = timedelta(hours=1)
PANEL_TAIL = timedelta(minutes=15)


def links_for(alert: AlertView, base: LinkBase) -> list[dict[str, str]]:
    """Runbook, dashboard, silence form and the Prometheus graph, in that order."""
    links: list[dict[str, str]] = []
    runbook = runbook_url(alert, base)
    if runbook:
        links.append({"href": runbook, "text": "Runbook"})
    text = "Grafana panel" if alert.name in PANEL_OF_ALERT else "Grafana dashboard"
    links.append({"href": dashboard_url(alert, base), "text": text})
    links.append({"href": silence_url(alert, base), "text": "Silence in Alertmanager"})
    if alert.generator_url.startswith(("http://", "https://")):
        links.append({"href": alert.generator_url, "text": "Prometheus graph"})
    return links


def runbook_url(alert: AlertView, base: LinkBase) -> str:
    """An absolute `runbook_url` annotation as it is. A path (the stack's rules write
    `docs/runbooks/<AlertName>.md`, the repository's own file) or no annotation: that page
    under the runbook base; without a base, no link (a bare path is no link at all)."""
    annotated = alert.annotations.get("runbook_url", "")
    if annotated.startswith(("http://", "https://")):
        return annotated
    if not base.runbook_base_url:
        return ""
    page = annotated.rsplit("/", 1)[-1] if annotated else f"{alert.name}.md"
    return f"{base.runbook_base_url}/{quote(page)}"


def _millis(when: datetime) -> str:
    return str(int(when.timestamp() * 1000))


def dashboard_url(alert: AlertView, base: LinkBase) -> str:
    """The alert's panel (or dashboard) with node, GPU and the alert's time range filled in."""
    uid = DASHBOARD_GPU if alert.gpu or alert.name.startswith("GPU") else DASHBOARD_OVERVIEW
    panel = PANEL_OF_ALERT.get(alert.name)
    if panel is not None:
        uid = panel[0]
    # A firing alert's endsAt is Alertmanager's resend horizon, not an end: "now" then.
    ended = alert.ends_at if alert.status == "resolved" else None
    params = {
        "from": _millis(alert.starts_at - PANEL_LEAD),
        "to": _millis(ended + PANEL_TAIL) if ended else "now",
    }
    if panel is not None:
        params["viewPanel"] = str(panel[1])
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
