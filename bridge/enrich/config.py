"""The `enrichment:` section of `BRIDGE_CONFIG`, validated strictly at start.

```yaml
enrichment:
  enabled: true            # false: no Prometheus queries at all
  query_timeout: 1500ms    # each query's own timeout (default: BRIDGE_ENRICH_BUDGET)
  cache_ttl: 30s           # reuse a (query, labels) result this long; PagerDuty and Slack
                           # deliveries of one alert then query once
  tcp_timeout: 1s          # node-down TCP checks of the node's exporter ports
  alerts:
    GPUTemperatureCritical:
      queries:             # named PromQL; {label} placeholders inside double quotes
        inlet temperature:
          expr: 'max(ipmi_temperature_celsius{node="{node}",sensor="Inlet"})'
          unit: celsius
        power draw: 'max(my_power_metric{node="{node}",gpu="{gpu}"})'   # replaces the default
    MyGpuAlert:
      family: gpu_temperature   # built-in context of a family for an alert of your own
      defaults: false           # only the queries below, not the family's built-in ones
      key: inlet temperature    # the line whose value goes into the page summary
      chart:
        expr: 'max(DCGM_FI_DEV_GPU_TEMP{node="{node}",gpu="{gpu}"})'
        unit: celsius
        threshold: 80
        title: GPU temperature
```
Pure: a mapping in, an `EnrichmentConfig` out, or `EnrichmentConfigError` naming the key.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.durations import DurationError, parse_duration
from bridge.enrich.queries import FAMILIES, FAMILY_OF_ALERT, ChartSpec
from bridge.enrich.templating import TemplateError, placeholders
from bridge.enrich.units import UNITS

DEFAULT_CACHE_TTL = 30.0
DEFAULT_TCP_TIMEOUT = 1.0
MAX_QUERIES_PER_ALERT = 40


class EnrichmentConfigError(ValueError):
    pass


@dataclass(frozen=True)
class QueryOverride:
    """A configured query: new, or replacing the built-in one of the same name.

    `unit` and `optional` are None when not given, so a replacement keeps the built-in's.
    """

    name: str
    expr: str
    unit: str | None = None
    optional: bool | None = None


@dataclass(frozen=True)
class AlertEnrichment:
    """What `BRIDGE_CONFIG` says about one alertname."""

    family: str | None = None
    defaults: bool = True
    queries: tuple[QueryOverride, ...] = ()
    key: str | None = None
    chart: ChartSpec | None = None
    chart_disabled: bool = False


@dataclass(frozen=True)
class EnrichmentConfig:
    enabled: bool = True
    query_timeout: float | None = None
    cache_ttl: float = DEFAULT_CACHE_TTL
    tcp_timeout: float = DEFAULT_TCP_TIMEOUT
    alerts: Mapping[str, AlertEnrichment] = field(default_factory=dict)


def _fail(where: str, message: str) -> EnrichmentConfigError:
    return EnrichmentConfigError(f"enrichment.{where}: {message}")


def _mapping(value: Any, where: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(where, "must be a mapping")
    unknown = sorted(str(k) for k in set(value) - allowed)
    if unknown:
        raise _fail(where, f"unknown keys {unknown} (allowed: {sorted(allowed)})")
    return value


def _duration(value: Any, where: str) -> float:
    if not isinstance(value, str):
        raise _fail(where, f"{value!r} is not a duration like 1500ms or 2s")
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise _fail(where, str(exc)) from None


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, "must be a non-empty string")
    return value.strip()


def _expr(value: Any, where: str) -> str:
    expr = _text(value, where)
    try:
        placeholders(expr)
    except TemplateError as exc:
        raise _fail(where, str(exc)) from None
    return expr


def _unit(value: Any, where: str) -> str:
    if value not in UNITS:
        raise _fail(where, f"{value!r} is not one of {list(UNITS)}")
    return str(value)


def _query(name: Any, value: Any, where: str, inputs: set[str]) -> QueryOverride:
    if not isinstance(name, str) or not name.strip():
        raise _fail(where, f"query name {name!r} must be a non-empty string")
    name = name.strip()
    if name.startswith("_") and name not in inputs:
        # `_name` queries feed a family's combined lines; a new one would be read by nothing.
        known = ", ".join(sorted(inputs)) or "none for this alert"
        raise _fail(where, f"{name!r}: names starting with _ replace a family input ({known})")
    where = f"{where}.{name}"
    if isinstance(value, str):
        return QueryOverride(name, _expr(value, where))
    spec = _mapping(value, where, {"expr", "unit", "optional"})
    if "expr" not in spec:
        raise _fail(where, "expr is required")
    optional = spec.get("optional")
    if optional is not None and not isinstance(optional, bool):
        raise _fail(f"{where}.optional", "must be true or false")
    unit = _unit(spec["unit"], f"{where}.unit") if "unit" in spec else None
    return QueryOverride(name, _expr(spec["expr"], f"{where}.expr"), unit, optional)


def _chart(value: Any, where: str) -> ChartSpec:
    spec = _mapping(value, where, {"expr", "unit", "threshold", "title", "legend_by"})
    if "expr" not in spec:
        raise _fail(where, "expr is required")
    threshold = spec.get("threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not math.isfinite(threshold)
    ):
        raise _fail(f"{where}.threshold", "must be a number")
    legend = spec.get("legend_by", [])
    if not isinstance(legend, list) or not all(isinstance(x, str) and x for x in legend):
        raise _fail(f"{where}.legend_by", "must be a list of label names")
    return ChartSpec(
        title=_text(spec.get("title", "Alert metric"), f"{where}.title"),
        expr=_expr(spec["expr"], f"{where}.expr"),
        unit=_unit(spec.get("unit", "none"), f"{where}.unit"),
        threshold=float(threshold) if threshold is not None else None,
        legend_by=tuple(legend),
    )


def _alert(alertname: str, value: Any, where: str) -> AlertEnrichment:
    spec = _mapping(value, where, {"family", "defaults", "queries", "key", "chart"})
    family = spec.get("family")
    if family is not None and family not in FAMILIES:
        raise _fail(f"{where}.family", f"{family!r} is not one of {sorted(FAMILIES)}")
    effective = family or FAMILY_OF_ALERT.get(alertname)
    inputs = {q.name for q in FAMILIES[effective].queries if q.hidden} if effective else set[str]()
    defaults = spec.get("defaults", True)
    if not isinstance(defaults, bool):
        raise _fail(f"{where}.defaults", "must be true or false")
    raw_queries = spec.get("queries")
    raw_queries = {} if raw_queries is None else raw_queries
    if not isinstance(raw_queries, Mapping):
        raise _fail(f"{where}.queries", "must be a mapping of name: expr (or name: {expr, unit})")
    if len(raw_queries) > MAX_QUERIES_PER_ALERT:
        raise _fail(f"{where}.queries", f"at most {MAX_QUERIES_PER_ALERT} queries per alert")
    queries = tuple(_query(n, q, f"{where}.queries", inputs) for n, q in raw_queries.items())
    key = spec.get("key")
    if key is not None:
        key = _text(key, f"{where}.key")
    chart_value = spec.get("chart")
    chart_disabled = chart_value is False
    chart = None
    if chart_value is not None and not chart_disabled:
        chart = _chart(chart_value, f"{where}.chart")
    return AlertEnrichment(family, defaults, queries, key, chart, chart_disabled)


def parse_enrichment(raw: Any) -> EnrichmentConfig:
    """`EnrichmentConfig` from the YAML value of `enrichment:` (None: all defaults)."""
    if raw is None:
        return EnrichmentConfig()
    spec = _mapping(raw, "", {"enabled", "query_timeout", "cache_ttl", "tcp_timeout", "alerts"})
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail("enabled", "must be true or false")
    query_timeout = (
        _duration(spec["query_timeout"], "query_timeout") if "query_timeout" in spec else None
    )
    # A zero TTL is allowed (no caching), so it is not a parse_duration duration.
    cache_ttl = DEFAULT_CACHE_TTL
    if "cache_ttl" in spec:
        cache_ttl = (
            0.0
            if spec["cache_ttl"] in (0, "0", "0s")
            else _duration(spec["cache_ttl"], "cache_ttl")
        )
    tcp_timeout = (
        _duration(spec["tcp_timeout"], "tcp_timeout")
        if "tcp_timeout" in spec
        else DEFAULT_TCP_TIMEOUT
    )
    raw_alerts = spec.get("alerts")
    raw_alerts = {} if raw_alerts is None else raw_alerts
    if not isinstance(raw_alerts, Mapping):
        raise _fail("alerts", "must be a mapping of alertname: {...}")
    alerts = {}
    for name, value in raw_alerts.items():
        if not isinstance(name, str) or not name:
            raise _fail("alerts", f"alert name {name!r} must be a non-empty string")
        alerts[name] = _alert(name, value, f"alerts.{name}")
    return EnrichmentConfig(enabled, query_timeout, cache_ttl, tcp_timeout, alerts)
