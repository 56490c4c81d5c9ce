"""Built-in PromQL per alert family: the context on-call needs first, for the stack's alerts.

Pure data. Every template is rendered with the alert's labels (`templating.render`) and joins
on the `node` and `gpu` target labels that `prometheus/targets/*.yml` give every exporter.
Queries read raw exporter series rather than the stack's recording rules, so context still
works against a Prometheus that does not load `prometheus/rules/`.

A query whose name starts with `_` is an input for the family's own lines (`families.py`),
not shown as it is. `BRIDGE_CONFIG` may replace any query by name or add more (`config.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

# GB10 exports no DCGM_FI_DEV_FB_* series: those queries are optional and the memory lines
# fall back to the node's unified memory.
GPU = 'node="{node}",gpu="{gpu}"'
NODE = 'node="{node}"'


@dataclass(frozen=True)
class Query:
    name: str
    expr: str
    unit: str = "none"
    # Optional: no data is normal (vLLM not running, no framebuffer on GB10), so the line
    # is left out instead of being reported missing.
    optional: bool = False
    # List every series by these labels (`dgx-spark-02 GPU 0: 61 °C · …`) instead of one value.
    list_by: tuple[str, ...] = ()
    # With list_by: leave out the alert's own series (comparisons with "the others").
    exclude_self: bool = False
    # For a hidden input: the line it feeds, named when the input is missing.
    feeds: str = ""

    @property
    def hidden(self) -> bool:
        return self.name.startswith("_")


@dataclass(frozen=True)
class ChartSpec:
    """The alert's metric over the last hour, as a small PNG (`chart.py`)."""

    title: str
    expr: str
    unit: str
    threshold: float | None = None
    # Series are named by these labels in the legend.
    legend_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Family:
    name: str
    queries: tuple[Query, ...]
    # The line whose value is the alert's key number (PagerDuty summary, Slack fallback).
    key: str
    # TCP-check the node's exporter ports from the bridge (node down).
    tcp_check: bool = False


TEMPERATURE = Family(
    "gpu_temperature",
    (
        Query("GPU temperature", f"max(DCGM_FI_DEV_GPU_TEMP{{{GPU}}})", "celsius"),
        Query(
            "15 min max",
            f"max(max_over_time(DCGM_FI_DEV_GPU_TEMP{{{GPU}}}[15m]))",
            "celsius",
        ),
        Query(
            "trend",
            f"max(deriv(DCGM_FI_DEV_GPU_TEMP{{{GPU}}}[10m])) * 60",
            "celsius_per_minute",
        ),
        Query("power draw", f"max(DCGM_FI_DEV_POWER_USAGE{{{GPU}}})", "watts"),
        Query("SM clock", f"max(DCGM_FI_DEV_SM_CLOCK{{{GPU}}})", "megahertz"),
        Query(
            "_sm_clock_max_1h",
            f"max(max_over_time(DCGM_FI_DEV_SM_CLOCK{{{GPU}}}[1h]))",
            "megahertz",
            optional=True,
            feeds="SM clock",
        ),
        Query(
            "throttle reasons",
            f"max(DCGM_FI_DEV_CLOCKS_EVENT_REASONS{{{GPU}}})",
            "clock_event_reasons",
        ),
        Query(
            "slowdown temperature",
            f"max(DCGM_FI_DEV_SLOWDOWN_TEMP{{{GPU}}})",
            "celsius",
            optional=True,
        ),
        Query(
            "other GPUs",
            "max by (node, gpu) (DCGM_FI_DEV_GPU_TEMP)",
            "celsius",
            optional=True,
            list_by=("node", "gpu"),
            exclude_self=True,
        ),
    ),
    key="GPU temperature",
)

MEMORY = Family(
    "gpu_memory",
    (
        Query(
            "_fb_used",
            f"max(DCGM_FI_DEV_FB_USED{{{GPU}}}) * 1048576",
            "bytes",
            optional=True,
            feeds="GPU memory",
        ),
        Query(
            "_fb_free",
            f"max(DCGM_FI_DEV_FB_FREE{{{GPU}}}) * 1048576",
            "bytes",
            optional=True,
            feeds="GPU memory",
        ),
        Query(
            "_fb_used_deriv",
            f"max(deriv(DCGM_FI_DEV_FB_USED{{{GPU}}}[30m])) * 1048576",
            "bytes_per_second",
            optional=True,
            feeds="trend",
        ),
        Query(
            "_mem_total",
            f"max(node_memory_MemTotal_bytes{{{NODE}}})",
            "bytes",
            optional=True,
            feeds="GPU memory",
        ),
        Query(
            "_mem_available",
            f"max(node_memory_MemAvailable_bytes{{{NODE}}})",
            "bytes",
            optional=True,
            feeds="GPU memory",
        ),
        Query(
            "_mem_available_deriv",
            f"max(deriv(node_memory_MemAvailable_bytes{{{NODE}}}[30m]))",
            "bytes_per_second",
            optional=True,
            feeds="trend",
        ),
        Query(
            "_page_cache",
            f"max(node_memory_Cached_bytes{{{NODE}}})",
            "bytes",
            optional=True,
            feeds="page cache",
        ),
        Query(
            "KV cache (vLLM)",
            f"max(vllm:kv_cache_usage_perc{{{NODE}}} or vllm:gpu_cache_usage_perc{{{NODE}}})",
            "ratio",
            optional=True,
        ),
        Query(
            "requests waiting (vLLM)",
            f"sum(vllm:num_requests_waiting{{{NODE}}})",
            "count",
            optional=True,
        ),
        Query(
            "requests running (vLLM)",
            f"sum(vllm:num_requests_running{{{NODE}}})",
            "count",
            optional=True,
        ),
        Query(
            "OOM kills in 1 h",
            f"sum(increase(node_vmstat_oom_kill{{{NODE}}}[1h]))",
            "count",
            optional=True,
        ),
    ),
    key="GPU memory",
)

# XIDs in 24 h, from the sticky last-XID gauge (DOMAIN.md): value changes of one series, plus
# series (one per err_code on current exporters) that appeared within the window. A fresh
# Prometheus with less than 24 h of history counts every series it has as new.
XID_COUNT_24H = (
    f"(sum(changes(DCGM_FI_DEV_XID_ERRORS{{{GPU}}}[24h])) or vector(0))"
    f" + (count(max_over_time(DCGM_FI_DEV_XID_ERRORS{{{GPU}}}[24h]) > 0"
    f" unless max_over_time(DCGM_FI_DEV_XID_ERRORS{{{GPU}}}[24h] offset 24h)) or vector(0))"
)

XID = Family(
    "xid",
    (
        Query("XIDs in 24 h", XID_COUNT_24H, "count"),
        Query("_last_xid", f"max(DCGM_FI_DEV_XID_ERRORS{{{GPU}}})", optional=True, feeds="XID"),
        Query(
            "_model",
            f"count by (modelName) (DCGM_FI_DEV_GPU_TEMP{{{GPU}}}"
            f" or DCGM_FI_DEV_GPU_UTIL{{{GPU}}})",
            optional=True,
            feeds="GPU model",
        ),
        Query("_targets", f"up{{{NODE}}}", feeds="node still up"),
        Query("GPU utilisation", f"max(DCGM_FI_DEV_GPU_UTIL{{{GPU}}})", "percent", optional=True),
        Query("GPU temperature", f"max(DCGM_FI_DEV_GPU_TEMP{{{GPU}}})", "celsius", optional=True),
    ),
    key="XID",
)

# Last successful scrape per exporter: a subquery at 30 s resolution over 6 h, so "last seen"
# is accurate to about 30 s; a target absent from it reads "not up in the last 6h of samples".
LAST_SEEN_WINDOW = "6h"
NODE_DOWN = Family(
    "node_down",
    (
        Query("_targets", f"up{{{NODE}}}", feeds="exporters down"),
        Query(
            "_last_seen",
            f"max by (job, instance) (max_over_time("
            f"timestamp(up{{{NODE}}} == 1)[{LAST_SEEN_WINDOW}:30s]))",
            "timestamp",
            optional=True,
            feeds="last seen",
        ),
        Query(
            "other nodes",
            # The alert's own node is left out: {node} is a placeholder, not a selector.
            'max by (node) (up{node!="{node}",node!=""})',
            "up",
            optional=True,
            list_by=("node",),
        ),
    ),
    key="exporters down",
    tcp_check=True,
)

CPU_BUSY = (
    "100 * (1 - avg(sum without (mode) ("
    f'rate(node_cpu_seconds_total{{{NODE},mode=~"idle|iowait|steal"}}[5m]))))'
)
MEMORY_USED_PERCENT = (
    f"100 * (1 - max(node_memory_MemAvailable_bytes{{{NODE}}})"
    f" / max(node_memory_MemTotal_bytes{{{NODE}}}))"
)

NODE_RESOURCES = Family(
    "node_resources",
    (
        Query("CPU busy", CPU_BUSY, "percent"),
        Query("_load1", f"max(node_load1{{{NODE}}})", optional=True, feeds="load"),
        Query("_load5", f"max(node_load5{{{NODE}}})", optional=True, feeds="load"),
        Query("_load15", f"max(node_load15{{{NODE}}})", optional=True, feeds="load"),
        Query(
            "_cpus",
            f"count(count by (cpu) (node_cpu_seconds_total{{{NODE}}}))",
            optional=True,
            feeds="load",
        ),
        Query(
            "_mem_total", f"max(node_memory_MemTotal_bytes{{{NODE}}})", "bytes", feeds="memory used"
        ),
        Query(
            "_mem_available",
            f"max(node_memory_MemAvailable_bytes{{{NODE}}})",
            "bytes",
            feeds="memory used",
        ),
        Query(
            "_page_cache",
            f"max(node_memory_Cached_bytes{{{NODE}}})",
            "bytes",
            optional=True,
            feeds="memory breakdown",
        ),
        Query(
            "_buffers",
            f"max(node_memory_Buffers_bytes{{{NODE}}})",
            "bytes",
            optional=True,
            feeds="memory breakdown",
        ),
        Query(
            "_mem_free",
            f"max(node_memory_MemFree_bytes{{{NODE}}})",
            "bytes",
            optional=True,
            feeds="memory breakdown",
        ),
        Query(
            "OOM kills in 1 h",
            f"sum(increase(node_vmstat_oom_kill{{{NODE}}}[1h]))",
            "count",
            optional=True,
        ),
        Query(
            "GPU utilisation",
            f"avg(DCGM_FI_DEV_GPU_UTIL{{{NODE}}})",
            "percent",
            optional=True,
        ),
        Query(
            "GPU utilisation, 1 h avg",
            f"avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL{{{NODE}}}[1h]))",
            "percent",
            optional=True,
        ),
        Query(
            "requests running (vLLM)",
            f"sum(vllm:num_requests_running{{{NODE}}})",
            "count",
            optional=True,
        ),
        Query(
            "requests waiting (vLLM)",
            f"sum(vllm:num_requests_waiting{{{NODE}}})",
            "count",
            optional=True,
        ),
        Query(
            "tokens generated (vLLM)",
            f"sum(rate(vllm:generation_tokens_total{{{NODE}}}[5m]))",
            "per_second",
            optional=True,
        ),
    ),
    key="CPU busy",
)

FAMILIES = {f.name: f for f in (TEMPERATURE, MEMORY, XID, NODE_DOWN, NODE_RESOURCES)}

# The stack's alerts (prometheus/rules/alerting-rules.yml) and the family each one gets.
FAMILY_OF_ALERT = {
    "GPUTemperatureCritical": "gpu_temperature",
    "GPUTemperatureWarning": "gpu_temperature",
    "GPUThermalThrottling": "gpu_temperature",
    "GPUHardwareSlowdown": "gpu_temperature",
    "GPUMemoryExhausted": "gpu_memory",
    "GPUMemoryHigh": "gpu_memory",
    "GPUXIDError": "xid",
    "DGXSparkNodeDown": "node_down",
    "ExporterDown": "node_down",
    "GPUMetricsMissing": "node_down",
    "HighCPUUsage": "node_resources",
    "HighMemoryUsage": "node_resources",
    "NodeOOMKill": "node_resources",
    "GPUUnderutilized": "node_resources",
}

# Where an alert's key number is another line of its family than the family's default.
KEY_OF_ALERT = {
    "GPUThermalThrottling": "throttle reasons",
    "GPUHardwareSlowdown": "throttle reasons",
    "HighMemoryUsage": "memory used",
    "NodeOOMKill": "OOM kills in 1 h",
    "GPUUnderutilized": "GPU utilisation",
}

_GPU_TEMP_CHART = f"max(DCGM_FI_DEV_GPU_TEMP{{{GPU}}})"
_GPU_MEMORY_CHART = (
    f"100 * (max(DCGM_FI_DEV_FB_USED{{{GPU}}})"
    f" / (max(DCGM_FI_DEV_FB_USED{{{GPU}}}) + max(DCGM_FI_DEV_FB_FREE{{{GPU}}}))"
    f" or (1 - max(node_memory_MemAvailable_bytes{{{NODE}}})"
    f" / max(node_memory_MemTotal_bytes{{{NODE}}})))"
)
_GPU_UTIL_CHART = f"max(DCGM_FI_DEV_GPU_UTIL{{{GPU}}})"

# The thresholds repeat those in alerting-rules.yml; a numeric `threshold` annotation on the
# alert wins (see plan.py), so a changed rule that says its threshold is drawn right.
CHART_OF_ALERT: dict[str, ChartSpec] = {
    "GPUTemperatureCritical": ChartSpec("GPU temperature", _GPU_TEMP_CHART, "celsius", 85),
    "GPUTemperatureWarning": ChartSpec("GPU temperature", _GPU_TEMP_CHART, "celsius", 75),
    "GPUThermalThrottling": ChartSpec("GPU temperature", _GPU_TEMP_CHART, "celsius"),
    "GPUHardwareSlowdown": ChartSpec(
        "SM clock", f"max(DCGM_FI_DEV_SM_CLOCK{{{GPU}}})", "megahertz"
    ),
    "GPUMemoryExhausted": ChartSpec("GPU memory used", _GPU_MEMORY_CHART, "percent", 95),
    "GPUMemoryHigh": ChartSpec("GPU memory used", _GPU_MEMORY_CHART, "percent", 85),
    "GPUXIDError": ChartSpec("GPU utilisation", _GPU_UTIL_CHART, "percent"),
    "DGXSparkNodeDown": ChartSpec(
        "Exporters up", f"max by (job) (up{{{NODE}}})", "up", legend_by=("job",)
    ),
    "ExporterDown": ChartSpec(
        "Exporters up", f"max by (job) (up{{{NODE}}})", "up", legend_by=("job",)
    ),
    "HighCPUUsage": ChartSpec("CPU busy", CPU_BUSY, "percent", 90),
    "HighMemoryUsage": ChartSpec("Memory used", MEMORY_USED_PERCENT, "percent", 90),
    "NodeOOMKill": ChartSpec("Memory used", MEMORY_USED_PERCENT, "percent"),
    "GPUUnderutilized": ChartSpec(
        "GPU utilisation", f"avg(DCGM_FI_DEV_GPU_UTIL{{{NODE}}})", "percent", 10
    ),
}
