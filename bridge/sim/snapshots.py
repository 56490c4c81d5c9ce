"""What the exporters render: a node's identity and read-only snapshots of its state.

The exporter modules depend only on these types, not on how `state.NodeState` computes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from bridge.sim.profiles import PROFILES, Flavour, Profile


class VllmNames(StrEnum):
    V1 = "v1"  # vLLM >= 0.12 names (kv_cache_usage_perc, inter_token_latency_seconds)
    LEGACY = "legacy"  # NVIDIA's container ships 0.10: gpu_cache_usage_perc, time_per_output_...
    BOTH = "both"


@dataclass(frozen=True)
class NodeSpec:
    name: str
    index: int
    flavour: Flavour
    cluster_size: int = 2
    vllm_names: VllmNames = VllmNames.V1

    @property
    def role(self) -> str:
        # The seed's layout: the first node runs the Spark master, the others are workers.
        return "master" if self.index == 0 else "worker"

    @property
    def profile(self) -> Profile:
        return PROFILES[self.flavour]

    @property
    def gpu_uuid(self) -> str:
        return "GPU-" + str(uuid.uuid5(uuid.NAMESPACE_DNS, self.name))

    @property
    def pci_bus_id(self) -> str:
        # GB10's integrated GPU sits in PCI domain 0xF; a discrete card in domain 0.
        return "0000000F:01:00.0" if self.flavour is Flavour.GB10 else "00000000:18:00.0"


@dataclass(frozen=True)
class HistogramSnapshot:
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last
    sum: float
    count: float


@dataclass(frozen=True)
class GpuSnapshot:
    util_pct: float
    temp_c: float
    memory_temp_c: float
    power_w: float
    energy_mj: float
    sm_clock_mhz: float
    mem_clock_mhz: float
    clock_event_reasons: int
    mem_copy_util_pct: float
    pcie_tx_kbps: float
    pcie_rx_kbps: float
    fb_used_mib: float | None  # None on GB10: dcgm-exporter omits the series entirely
    fb_free_mib: float | None
    nvlink_bytes: float | None
    xid_last: int  # sticky: the last XID ever seen, 0 before the first
    xid_counts: Mapping[int, int]  # XIDs seen within the count window


@dataclass(frozen=True)
class HostSnapshot:
    cpu_count: int
    cpu_seconds: Mapping[tuple[int, str], float]  # (cpu, mode) -> seconds
    load1: float
    load5: float
    load15: float
    mem_total: float
    mem_available: float
    mem_free: float
    buffers: float
    cached: float
    slab: float
    psi_waiting_seconds: float
    psi_stalled_seconds: float
    oom_kills: float
    fs_size: float
    fs_avail: float
    net_rx_bytes: float
    net_tx_bytes: float
    boot_time: float


@dataclass(frozen=True)
class InferenceSnapshot:
    running: float
    waiting: float
    kv_cache_usage: float  # 0-1
    prompt_tokens: float
    generation_tokens: float
    preemptions: float
    successes: Mapping[str, float]  # finished_reason -> count
    histograms: Mapping[str, HistogramSnapshot]  # keys of HISTOGRAM_BOUNDS


@dataclass(frozen=True)
class SparkSnapshot:
    role: str
    alive_workers: int
    apps: int
    executors: int
    cores_used: int
    cores_free: int
    worker_mem_used_mb: float
    worker_mem_free_mb: float
    block_manager_mem_used_mb: float
    block_manager_max_mem_mb: float
    active_jobs: int
    running_stages: int


@dataclass(frozen=True)
class NodeSnapshot:
    spec: NodeSpec
    time: float
    gpu: GpuSnapshot
    host: HostSnapshot
    inference: InferenceSnapshot
    spark: SparkSnapshot
