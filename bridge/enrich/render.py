"""Reading a stored context for the notifiers: its lines, its key fact, what is missing and
why, and where its chart is served. Pure, and tolerant of any stored shape: a context written
by an older bridge, or the worker's own `{"_missing": "enrichment failed: …"}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

CHART_PATH = "/charts/{id}.png"


def visible_items(context: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The readable lines: every key not starting with `_`, in stored order."""
    if not context:
        return []
    return [(str(k), str(v)) for k, v in context.items() if not str(k).startswith("_")]


def key_fact(context: Mapping[str, Any] | None) -> str:
    value = (context or {}).get("_key")
    return value if isinstance(value, str) else ""


def missing_text(context: Mapping[str, Any] | None) -> str:
    """`power draw, trend: Prometheus did not answer within 2s`, one clause per reason."""
    missing = (context or {}).get("_missing")
    if isinstance(missing, str):
        return missing
    if not isinstance(missing, list) or not missing:
        return ""
    by_reason: dict[str, list[str]] = {}
    for entry in missing:
        if isinstance(entry, Mapping):
            by_reason.setdefault(str(entry.get("why", "")), []).append(str(entry.get("what", "")))
    return "; ".join(
        f"{', '.join(dict.fromkeys(whats))}: {why}" for why, whats in by_reason.items()
    )


def chart_of(context: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    chart = (context or {}).get("_chart")
    return chart if isinstance(chart, Mapping) else None


def chart_path(chart: Mapping[str, Any]) -> str | None:
    """`/charts/42.png?key=…` for a chart stored with its delivery id and key."""
    delivery, key = chart.get("delivery"), chart.get("key")
    if not isinstance(delivery, int) or not isinstance(key, str) or not key:
        return None
    return CHART_PATH.format(id=delivery) + f"?key={quote(key)}"


def chart_url(context: Mapping[str, Any] | None, public_url: str | None) -> str | None:
    """The chart's public URL, only over HTTPS: PagerDuty refuses other image sources."""
    chart = chart_of(context)
    path = chart_path(chart) if chart is not None else None
    if path is None or not public_url or not public_url.startswith("https://"):
        return None
    return public_url.rstrip("/") + path
