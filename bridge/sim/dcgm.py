"""dcgm-exporter's `/metrics`, as NVIDIA/dcgm-exporter renders its default counters.

What differs between flavours is what differs on real hardware: a GB10 has no framebuffer
series at all (dcgm-exporter drops unsupported fields silently) and no NVLink; MEM_COPY_UTIL
and MEMORY_TEMP read 0 there.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from bridge.sim.snapshots import GpuSnapshot, NodeSnapshot, NodeSpec

# A few err_msg texts (NVIDIA XID catalog); anything else is rendered like the exporter does
# for codes it has no text for.
XID_MESSAGES = {
    13: "Graphics Engine Exception",
    31: "GPU memory page fault",
    43: "GPU stopped processing",
    48: "Double Bit ECC Error",
    63: "ECC page retirement or row remapping recording event",
    74: "NVLINK Error",
    79: "GPU has fallen off the bus",
    94: "Contained ECC error",
    95: "Uncontained ECC error",
    109: "Context Switch Timeout Error",
    119: "GSP RPC Timeout",
}

# DCGM_CLOCKS_EVENT_REASON_* bits, named as dcgm-exporter's clock events collector names
# them in the `clock_event` label.
CLOCK_EVENTS = {
    0x1: "gpu_idle",
    0x2: "clocks_setting",
    0x4: "sw_power_cap",
    0x8: "hw_slowdown",
    0x10: "sync_boost",
    0x20: "sw_thermal",
    0x40: "hw_thermal",
    0x80: "hw_power_brake",
    0x100: "display_clock",
}

LABELS = ("gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname")


def _label_values(spec: NodeSpec) -> list[str]:
    # Hostname is the node's own name; Prometheus adds `node`/`role` from file_sd, so rules
    # never need to depend on `Hostname` (renamed `hostname` upstream).
    return ["0", spec.gpu_uuid, spec.pci_bus_id, "nvidia0", spec.profile.model_name, spec.name]


def _gauge(spec: NodeSpec, name: str, doc: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=LABELS)
    family.add_metric(_label_values(spec), value)
    return family


def _counter(spec: NodeSpec, name: str, doc: str, value: float) -> Metric:
    # dcgm-exporter declares these `counter` but names them without `_total`. prometheus_client's
    # text writer would append `_total` to the TYPE line of a counter family, so the family is
    # left untyped and the sample keeps the exact name rules query.
    family = Metric(name, doc, "unknown")
    family.add_sample(name, dict(zip(LABELS, _label_values(spec), strict=True)), value)
    return family


def collect(snapshot: NodeSnapshot, xid_window_seconds: float) -> Iterator[Metric]:
    spec, gpu = snapshot.spec, snapshot.gpu
    yield _gauge(spec, "DCGM_FI_DEV_SM_CLOCK", "SM clock frequency (in MHz).", gpu.sm_clock_mhz)
    yield _gauge(
        spec, "DCGM_FI_DEV_MEM_CLOCK", "Memory clock frequency (in MHz).", gpu.mem_clock_mhz
    )
    yield _gauge(spec, "DCGM_FI_DEV_MEMORY_TEMP", "Memory temperature (in C).", gpu.memory_temp_c)
    yield _gauge(spec, "DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C).", gpu.temp_c)
    yield _gauge(spec, "DCGM_FI_DEV_POWER_USAGE", "Power draw (in W).", gpu.power_w)
    yield _counter(
        spec,
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "Total energy consumption since boot (in mJ).",
        gpu.energy_mj,
    )
    yield _counter(spec, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "Total number of PCIe retries.", 0.0)
    yield _gauge(spec, "DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", gpu.util_pct)
    yield _gauge(
        spec, "DCGM_FI_DEV_MEM_COPY_UTIL", "Memory utilization (in %).", gpu.mem_copy_util_pct
    )
    yield _gauge(
        spec,
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS",
        "Current clock event reasons (bitmask of DCGM_CLOCKS_EVENT_REASON_*).",
        gpu.clock_event_reasons,
    )
    yield _gauge(
        spec,
        "DCGM_FI_DEV_PCIE_TX_THROUGHPUT",
        "Total number of bytes transmitted through PCIe TX (in KB) via NVML.",
        gpu.pcie_tx_kbps,
    )
    yield _gauge(
        spec,
        "DCGM_FI_DEV_PCIE_RX_THROUGHPUT",
        "Total number of bytes received through PCIe RX (in KB) via NVML.",
        gpu.pcie_rx_kbps,
    )
    yield from _clock_events(spec, gpu, xid_window_seconds)
    yield from _framebuffer(spec, gpu)
    if gpu.nvlink_bytes is not None:
        yield _counter(
            spec,
            "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
            "Total number of NVLink bandwidth counters for all lanes.",
            gpu.nvlink_bytes,
        )
    yield from _xid(spec, gpu, xid_window_seconds)


def _framebuffer(spec: NodeSpec, gpu: GpuSnapshot) -> Iterator[Metric]:
    if gpu.fb_used_mib is None or gpu.fb_free_mib is None:
        return  # GB10: NVML says NOT_SUPPORTED, the exporter emits nothing
    yield _gauge(spec, "DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", gpu.fb_free_mib)
    yield _gauge(spec, "DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", gpu.fb_used_mib)


def _xid(spec: NodeSpec, gpu: GpuSnapshot, window_seconds: float) -> Iterator[Metric]:
    # The gauge is sticky: it keeps the last code (0 before any), whatever happens afterwards.
    code = gpu.xid_last
    message = "No Error" if code == 0 else XID_MESSAGES.get(code, "Unknown Error")
    sticky = GaugeMetricFamily(
        "DCGM_FI_DEV_XID_ERRORS",
        "Value of the last XID error encountered.",
        labels=(*LABELS, "err_code", "err_msg"),
    )
    sticky.add_metric([*_label_values(spec), str(code), message], code)
    yield sticky
    if not gpu.xid_counts:
        return  # the count series exists only while an XID is inside the window
    counts = GaugeMetricFamily(
        "DCGM_EXP_XID_ERRORS_COUNT",
        "Count of XID Errors within user-specified time window (see xid-count-window-size flag).",
        labels=(*LABELS, "window_size_in_ms", "xid"),
    )
    window_ms = str(int(window_seconds * 1000))
    for xid, count in sorted(gpu.xid_counts.items()):
        counts.add_metric([*_label_values(spec), window_ms, str(xid)], count)
    yield counts


def _clock_events(spec: NodeSpec, gpu: GpuSnapshot, window_seconds: float) -> Iterator[Metric]:
    # DCGM_EXP_CLOCK_EVENTS_COUNT, like the XID count, only has series for events seen in
    # the window; the simulator counts one per active reason (same window as XIDs).
    active = [name for bit, name in CLOCK_EVENTS.items() if gpu.clock_event_reasons & bit]
    if not active:
        return
    family = GaugeMetricFamily(
        "DCGM_EXP_CLOCK_EVENTS_COUNT",
        "Count of clock events within the user-specified time window "
        "(see clock-events-count-window-size param).",
        labels=(*LABELS, "clock_event", "window_size_in_ms"),
    )
    window_ms = str(int(window_seconds * 1000))
    for name in active:
        family.add_metric([*_label_values(spec), name, window_ms], 1)
    yield family
