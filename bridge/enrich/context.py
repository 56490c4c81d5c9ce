"""The context stored with an outbox row: readable lines plus a machine part.

```
{"GPU temperature": "87 °C", "15 min max": "87 °C", "trend": "+1.7 °C/min", …,
 "_family": "gpu_temperature", "_key": "87 °C, trend +1.7 °C/min",
 "_missing": [{"what": "power draw", "why": "Prometheus did not answer within 2s"}],
 "_chart": {…}, "_at": "2026-11-28T03:00:00+00:00", "_elapsed_ms": 41}
```
Keys starting with `_` are never shown as lines. Pure: the fetched outcomes in, a
JSON-serialisable dict out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bridge.enrich.families import BUILDERS, Facts, Lines, Values
from bridge.enrich.model import Failure, Outcomes, QueryOutcome, Sample, Series
from bridge.enrich.plan import Plan, PlannedChart, PlannedQuery
from bridge.enrich.units import format_value

MAX_LISTED_SERIES = 10
# A 1 h chart needs no more points than a thumbnail has pixels to spare.
CHART_POINTS = 60
MAX_CHART_SERIES = 6


def _series_name(labels: Mapping[str, str], by: Sequence[str]) -> str:
    parts = []
    for name in by:
        value = labels.get(name, "")
        if value:
            parts.append(f"GPU {value}" if name == "gpu" else value)
    return " ".join(parts) or "{}"


def _differing_labels(samples: Sequence[Sample]) -> list[str]:
    names = sorted({k for s in samples for k in s.labels})
    return [n for n in names if len({s.labels.get(n) for s in samples}) > 1]


def format_outcome(pq: PlannedQuery, samples: Sequence[Sample], labels: Mapping[str, str]) -> str:
    """One query's line: a value, or `name: value` per series for a listing."""
    query = pq.query
    if query.exclude_self and query.list_by:
        own = tuple(labels.get(n, "") for n in query.list_by)
        samples = [s for s in samples if tuple(s.labels.get(n, "") for n in query.list_by) != own]
    if not samples:
        return ""
    if len(samples) == 1 and not query.list_by:
        return format_value(samples[0].value, query.unit)
    by = list(query.list_by) or _differing_labels(samples)
    ordered = sorted(samples, key=lambda s: _series_name(s.labels, by))
    shown = [
        f"{_series_name(s.labels, by)}: {format_value(s.value, query.unit)}"
        for s in ordered[:MAX_LISTED_SERIES]
    ]
    if len(ordered) > MAX_LISTED_SERIES:
        shown.append(f"… and {len(ordered) - MAX_LISTED_SERIES} more")
    return " · ".join(shown)


def _missing_entry(what: str, why: str) -> dict[str, str]:
    return {"what": what, "why": why}


def _lines_and_missing(
    plan: Plan, outcomes: Mapping[str, QueryOutcome], labels: Mapping[str, str]
) -> tuple[Lines, list[dict[str, str]]]:
    lines: Lines = {}
    missing = [_missing_entry(what, why) for what, why in plan.skipped]
    for pq in plan.queries:
        query = pq.query
        outcome = outcomes.get(query.name, Failure("not run"))
        what = (query.feeds or query.name) if query.hidden else query.name
        if isinstance(outcome, Failure):
            missing.append(_missing_entry(what, outcome.reason))
            continue
        if not outcome:
            if not query.optional:
                missing.append(_missing_entry(what, "no data in Prometheus"))
            continue
        if not query.hidden:
            text = format_outcome(pq, outcome, labels)
            if text:
                lines[query.name] = text
    # One entry per line and reason, even when several inputs of one line failed alike.
    unique = list({(m["what"], m["why"]): m for m in missing}.values())
    return lines, unique


def _round(value: float) -> float | None:
    """4 significant digits keep the stored chart small; NaN/Inf become gaps (JSON has none)."""
    if not math.isfinite(value):
        return None
    return float(f"{value:.4g}")


def downsample(points: Sequence[tuple[float, float]], limit: int) -> list[list[float | None]]:
    step = max(1, math.ceil(len(points) / limit))
    return [[int(t), _round(v)] for t, v in points[::step]]


def _chart_series(series: Sequence[Series], legend_by: Sequence[str]) -> list[dict[str, Any]]:
    by = list(legend_by) or _differing_labels([Sample(s.labels, 0.0) for s in series])
    return [
        {"name": _series_name(s.labels, by), "points": downsample(s.points, CHART_POINTS)}
        for s in series[:MAX_CHART_SERIES]
    ]


def chart_spec_with_series(spec: Mapping[str, Any], series: Sequence[Series]) -> dict[str, Any]:
    """A stored spec completed with series fetched later (the chart endpoint's fallback)."""
    legend = spec.get("legend_by")
    legend_by = [str(x) for x in legend] if isinstance(legend, list) else []
    return {**spec, "series": _chart_series(series, legend_by)}


def chart_spec(
    chart: PlannedChart,
    data: tuple[Series, ...] | Failure | None,
    start: float,
    end: float,
    step: float,
) -> dict[str, Any]:
    """What `chart.py` draws and `/charts/<id>.png` serves: stored so the picture is stable."""
    spec: dict[str, Any] = {
        "title": chart.title,
        "unit": chart.spec.unit,
        "threshold": chart.threshold,
        "expr": chart.expr,
        "start": int(start),
        "end": int(end),
        "step": step,
    }
    if isinstance(data, tuple):
        by = list(chart.spec.legend_by) or _differing_labels([Sample(s.labels, 0.0) for s in data])
        spec["series"] = [
            {"name": _series_name(s.labels, by), "points": downsample(s.points, CHART_POINTS)}
            for s in data[:MAX_CHART_SERIES]
        ]
    return spec


def key_text(plan: Plan, value: str) -> str:
    """`CPU busy 95 %`, `2 OOM kills in 1 h`: the key line with its name, read as a phrase."""
    name = plan.key or ""
    unit = next((pq.query.unit for pq in plan.queries if pq.query.name == name), None)
    return f"{value} {name}" if unit == "count" else f"{name} {value}"


def assemble(
    plan: Plan,
    labels: Mapping[str, str],
    fetched: Outcomes,
    now: datetime,
    *,
    chart_window: tuple[float, float, float] | None = None,
    elapsed_seconds: float = 0.0,
) -> dict[str, Any]:
    """The stored context for one alert. `chart_window` is (start, end, step) in unix seconds."""
    lines, missing = _lines_and_missing(plan, fetched.queries, labels)
    key = None
    if plan.family in BUILDERS:
        built = BUILDERS[plan.family](
            Facts(labels, now), Values(fetched.queries), lines, fetched.tcp
        )
        lines, key = built.lines, built.key
    if isinstance(fetched.tcp, Failure):
        missing.append(_missing_entry("TCP from the bridge", fetched.tcp.reason))
    if key is None and plan.key and plan.key in lines:
        key = key_text(plan, lines[plan.key])
    context: dict[str, Any] = dict(lines)
    context["_family"] = plan.family
    if key:
        context["_key"] = key
    if plan.chart is not None and chart_window is not None:
        context["_chart"] = chart_spec(plan.chart, fetched.chart, *chart_window)
        if isinstance(fetched.chart, Failure):
            missing.append(_missing_entry("chart", fetched.chart.reason))
    context["_missing"] = missing
    context["_at"] = now.isoformat()
    context["_elapsed_ms"] = round(elapsed_seconds * 1000)
    return context
