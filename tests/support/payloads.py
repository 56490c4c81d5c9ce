"""Alertmanager webhook payloads (version 4) as Alertmanager 0.25+ sends them."""

from __future__ import annotations

import copy
from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"


def alert(
    name: str = "GPUTemperatureCritical",
    *,
    status: str = "firing",
    node: str = "dgx-spark-01",
    gpu: str | None = "0",
    severity: str = "critical",
    starts_at: str = "2026-11-28T03:00:00.000000001Z",
    ends_at: str | None = None,
    fingerprint: str | None = None,
    annotations: dict[str, str] | None = None,
    **labels: str,
) -> dict[str, Any]:
    all_labels = {"alertname": name, "severity": severity, "node": node, **labels}
    if gpu is not None:
        all_labels["gpu"] = gpu
    return {
        "status": status,
        "labels": all_labels,
        "annotations": annotations
        if annotations is not None
        else {
            "summary": f"{name} on {node}",
            "description": "GPU temperature is 87 °C",
            "value": "87 °C",
            "threshold": "85 °C",
        },
        "startsAt": starts_at,
        "endsAt": ends_at or (ZERO_TIME if status == "firing" else "2026-11-28T03:20:00Z"),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=DCGM_FI_DEV_GPU_TEMP",
        "fingerprint": fingerprint if fingerprint is not None else f"fp-{name}-{node}-{gpu}",
    }


def resolved(a: dict[str, Any], ends_at: str = "2026-11-28T03:20:00Z") -> dict[str, Any]:
    out = copy.deepcopy(a)
    out["status"] = "resolved"
    out["endsAt"] = ends_at
    return out


def payload(*alerts: dict[str, Any], receiver: str = "alert-bridge") -> dict[str, Any]:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": '{}:{alertname="GPUTemperatureCritical"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver,
        "groupLabels": {"alertname": "GPUTemperatureCritical"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
