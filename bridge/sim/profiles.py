"""Hardware the simulator pretends to be: a DGX Spark (GB10) or a datacenter GPU node.

Numbers are plausible, not measured: they only need to sit on the right side of the rules'
thresholds and look sane on the dashboards.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GIB = 1024**3


class Flavour(StrEnum):
    GB10 = "gb10"  # DGX Spark: unified memory, no DCGM_FI_DEV_FB_* series, no NVLink
    DATACENTER = "datacenter"  # H100-class card with framebuffer and NVLink series


@dataclass(frozen=True)
class Profile:
    model_name: str  # dcgm-exporter's modelName label
    idle_power_w: float
    max_power_w: float
    max_sm_clock_mhz: float
    throttled_sm_clock_mhz: float
    mem_clock_mhz: float
    fb_total_mib: float | None  # None: the GPU has no framebuffer of its own (GB10)
    has_nvlink: bool
    host_memory_bytes: int
    cpu_count: int
    machine: str  # node_uname_info's machine label
    filesystem_bytes: int


PROFILES: dict[Flavour, Profile] = {
    Flavour.GB10: Profile(
        model_name="NVIDIA GB10",
        idle_power_w=18.0,
        max_power_w=140.0,  # GB10 TDP (DOMAIN.md)
        max_sm_clock_mhz=2418.0,
        throttled_sm_clock_mhz=1100.0,
        mem_clock_mhz=4266.0,
        fb_total_mib=None,  # NVML reports memory as NOT_SUPPORTED on GB10
        has_nvlink=False,  # nodes talk over ConnectX-7, not NVLink
        host_memory_bytes=128 * GIB,  # shared by the Grace CPU and the GPU
        cpu_count=20,  # 10 Cortex-X925 + 10 Cortex-A725
        machine="aarch64",
        filesystem_bytes=3_700_000_000_000,  # 4 TB NVMe, formatted
    ),
    Flavour.DATACENTER: Profile(
        model_name="NVIDIA H100 80GB HBM3",
        idle_power_w=70.0,
        max_power_w=700.0,
        max_sm_clock_mhz=1980.0,
        throttled_sm_clock_mhz=1100.0,
        mem_clock_mhz=2619.0,
        fb_total_mib=81559.0,  # what nvidia-smi reports for an 80 GB H100
        has_nvlink=True,
        host_memory_bytes=512 * GIB,
        cpu_count=32,  # kept small: the exporter output stays readable
        machine="x86_64",
        filesystem_bytes=1_800_000_000_000,
    ),
}
