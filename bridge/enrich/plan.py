"""Which queries an alert gets, rendered with its labels: a pure function of the alert and
the configuration, so what would be asked of Prometheus can be tested without one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from bridge.enrich.config import AlertEnrichment, EnrichmentConfig, QueryOverride
from bridge.enrich.queries import (
    CHART_OF_ALERT,
    FAMILIES,
    FAMILY_OF_ALERT,
    KEY_OF_ALERT,
    ChartSpec,
    Query,
)
from bridge.enrich.templating import MissingLabel, render

_NUMBER = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class PlannedQuery:
    query: Query
    expr: str  # rendered: safe to send


@dataclass(frozen=True)
class PlannedChart:
    spec: ChartSpec
    expr: str
    title: str
    threshold: float | None


@dataclass(frozen=True)
class Plan:
    alertname: str
    family: str | None
    queries: tuple[PlannedQuery, ...]
    # (line, reason) for queries that could not be rendered, e.g. a label the alert lacks.
    skipped: tuple[tuple[str, str], ...]
    key: str | None
    chart: PlannedChart | None
    tcp_check: bool


def where(labels: Mapping[str, str]) -> str:
    """`dgx-spark-01 GPU 0`, as the notifications name a place."""
    parts = [labels.get("node") or labels.get("instance", "")]
    if labels.get("gpu"):
        parts.append(f"GPU {labels['gpu']}")
    return " ".join(p for p in parts if p)


def _merge(defaults: tuple[Query, ...], overrides: tuple[QueryOverride, ...]) -> list[Query]:
    """Built-in queries with configured ones replacing by name, new ones appended."""
    merged = {q.name: q for q in defaults}
    for o in overrides:
        base = merged.get(o.name, Query(o.name, o.expr))
        merged[o.name] = replace(
            base,
            expr=o.expr,
            unit=o.unit if o.unit is not None else base.unit,
            optional=o.optional if o.optional is not None else base.optional,
        )
    return list(merged.values())


def threshold_from(annotations: Mapping[str, str], default: float | None) -> float | None:
    """The alert's own `threshold` annotation (`85 °C`) when it starts with a number."""
    match = _NUMBER.match(annotations.get("threshold", ""))
    return float(match.group(1)) if match else default


def plan_for(
    labels: Mapping[str, str], annotations: Mapping[str, str], config: EnrichmentConfig
) -> Plan:
    alertname = labels.get("alertname", "")
    override = config.alerts.get(alertname, AlertEnrichment())
    family_name = override.family or FAMILY_OF_ALERT.get(alertname)
    family = FAMILIES.get(family_name) if family_name else None
    defaults = family.queries if family is not None and override.defaults else ()
    queries: list[PlannedQuery] = []
    skipped: list[tuple[str, str]] = []
    for query in _merge(defaults, override.queries):
        try:
            queries.append(PlannedQuery(query, render(query.expr, labels)))
        except MissingLabel as exc:
            if not query.optional:
                line = query.feeds if query.hidden else query.name
                skipped.append((line or query.name, f"the alert has no {exc.label!r} label"))
    key = override.key or KEY_OF_ALERT.get(alertname) or (family.key if family else None)
    return Plan(
        alertname=alertname,
        family=family.name if family is not None and override.defaults else None,
        queries=tuple(queries),
        skipped=tuple(dict.fromkeys(skipped)),
        key=key,
        chart=_chart(labels, annotations, override),
        tcp_check=bool(family is not None and family.tcp_check and override.defaults),
    )


def _chart(
    labels: Mapping[str, str], annotations: Mapping[str, str], override: AlertEnrichment
) -> PlannedChart | None:
    if override.chart_disabled:
        return None
    spec = override.chart or CHART_OF_ALERT.get(labels.get("alertname", ""))
    if spec is None:
        return None
    try:
        expr = render(spec.expr, labels)
    except MissingLabel:
        return None
    place = where(labels)
    title = f"{spec.title}, {place}" if place else spec.title
    return PlannedChart(spec, expr, title, threshold_from(annotations, spec.threshold))
