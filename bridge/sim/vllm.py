"""vLLM's `/metrics` (v1 engine names; optionally the names of vLLM < 0.12).

NVIDIA's DGX Spark container ships vLLM 0.10, which still says `gpu_cache_usage_perc` and
`time_per_output_token_seconds`; rules and dashboards must accept both, and the simulator can
serve either to prove it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from bridge.sim.snapshots import HistogramSnapshot, NodeSnapshot, VllmNames

MODEL_NAME = "meta-llama/Llama-3.1-8B-Instruct"
_LABELS = ("model_name", "engine")
_VALUES = [MODEL_NAME, "0"]

# (histogram key in state, v1 name, legacy name)
_HISTOGRAMS = (
    ("ttft", "vllm:time_to_first_token_seconds", "vllm:time_to_first_token_seconds"),
    ("itl", "vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
    ("e2e", "vllm:e2e_request_latency_seconds", "vllm:e2e_request_latency_seconds"),
    ("queue", "vllm:request_queue_time_seconds", "vllm:request_queue_time_seconds"),
)


def _names(v1: str, legacy: str, style: VllmNames) -> list[str]:
    if v1 == legacy or style is VllmNames.V1:
        return [v1]
    if style is VllmNames.LEGACY:
        return [legacy]
    return [v1, legacy]


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=_LABELS)
    family.add_metric(_VALUES, value)
    return family


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=_LABELS)
    family.add_metric(_VALUES, value)
    return family


def _histogram(name: str, doc: str, snap: HistogramSnapshot) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=_LABELS)
    # `le` as Python's prometheus_client (which vLLM uses) writes it: "0.5", "1.0", "+Inf".
    buckets = [("+Inf" if math.isinf(b) else repr(b), count) for b, count in snap.buckets]
    family.add_metric(_VALUES, buckets, snap.sum)
    return family


def collect(snapshot: NodeSnapshot) -> Iterator[Metric]:
    inf, style = snapshot.inference, snapshot.spec.vllm_names
    yield _gauge(
        "vllm:num_requests_running", "Number of requests in model execution batches.", inf.running
    )
    yield _gauge(
        "vllm:num_requests_waiting", "Number of requests waiting to be processed.", inf.waiting
    )
    for name in _names("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", style):
        yield _gauge(name, "KV-cache usage. 1 means 100 percent usage.", inf.kv_cache_usage)
    yield _counter("vllm:prompt_tokens", "Number of prefill tokens processed.", inf.prompt_tokens)
    yield _counter(
        "vllm:generation_tokens", "Number of generation tokens processed.", inf.generation_tokens
    )
    yield _counter(
        "vllm:num_preemptions", "Cumulative number of preemption from the engine.", inf.preemptions
    )
    success = CounterMetricFamily(
        "vllm:request_success",
        "Count of successfully processed requests.",
        labels=(*_LABELS, "finished_reason"),
    )
    for reason, count in sorted(inf.successes.items()):
        success.add_metric([*_VALUES, reason], count)
    yield success
    for key, v1, legacy in _HISTOGRAMS:
        for name in _names(v1, legacy, style):
            yield _histogram(name, f"Histogram of {key} latency in seconds.", inf.histograms[key])
