"""node_exporter's `/metrics`: the series node-mixin rules and the project's rules read.

On a GB10 node the host memory is the GPU's memory too, so memory pressure shows up here.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from bridge.sim.snapshots import HostSnapshot, NodeSnapshot

_NIC = "enp1s0f0np0"  # a ConnectX-7 port, as DGX OS names it
_ROOT_FS = {"device": "/dev/nvme0n1p2", "fstype": "ext4", "mountpoint": "/"}


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def collect(snapshot: NodeSnapshot) -> Iterator[Metric]:
    host = snapshot.host
    yield from _cpu(host)
    yield from _memory(host)
    yield _gauge("node_load1", "1m load average.", host.load1)
    yield _gauge("node_load5", "5m load average.", host.load5)
    yield _gauge("node_load15", "15m load average.", host.load15)
    yield CounterMetricFamily(
        "node_pressure_memory_waiting_seconds",
        "Total time in seconds that processes have waited for memory",
        value=host.psi_waiting_seconds,
    )
    yield CounterMetricFamily(
        "node_pressure_memory_stalled_seconds",
        "Total time in seconds no process could make progress due to memory congestion",
        value=host.psi_stalled_seconds,
    )
    # node_exporter exposes /proc/vmstat fields untyped.
    oom = Metric("node_vmstat_oom_kill", "/proc/vmstat information field oom_kill.", "unknown")
    oom.add_sample("node_vmstat_oom_kill", {}, host.oom_kills)
    yield oom
    yield from _filesystem(host)
    yield from _network(host)
    yield _gauge("node_boot_time_seconds", "Node boot time, in unixtime.", host.boot_time)
    uname = GaugeMetricFamily(
        "node_uname_info",
        "Labeled system information as provided by the uname system call.",
        labels=("domainname", "machine", "nodename", "release", "sysname", "version"),
    )
    machine = snapshot.spec.profile.machine
    uname.add_metric(
        ["(none)", machine, snapshot.spec.name, "6.11.0-1016-nvidia", "Linux", "#16-Ubuntu SMP"],
        1.0,
    )
    yield uname


def _cpu(host: HostSnapshot) -> Iterator[Metric]:
    family = CounterMetricFamily(
        "node_cpu_seconds",
        "Seconds the CPUs spent in each mode.",
        labels=("cpu", "mode"),
    )
    for (cpu, mode), seconds in sorted(host.cpu_seconds.items()):
        family.add_metric([str(cpu), mode], round(seconds, 2))
    yield family


def _memory(host: HostSnapshot) -> Iterator[Metric]:
    fields = {
        "MemTotal": host.mem_total,
        "MemAvailable": host.mem_available,
        "MemFree": host.mem_free,
        "Buffers": host.buffers,
        "Cached": host.cached,
        "Slab": host.slab,
    }
    for field, value in fields.items():
        yield _gauge(
            f"node_memory_{field}_bytes",
            f"Memory information field {field}_bytes.",
            float(round(value)),
        )


def _filesystem(host: HostSnapshot) -> Iterator[Metric]:
    labels = tuple(_ROOT_FS)
    for name, doc, value in (
        ("node_filesystem_size_bytes", "Filesystem size in bytes.", host.fs_size),
        (
            "node_filesystem_avail_bytes",
            "Filesystem space available to non-root users.",
            host.fs_avail,
        ),
        ("node_filesystem_free_bytes", "Filesystem free space in bytes.", host.fs_avail * 1.05),
    ):
        family = GaugeMetricFamily(name, doc, labels=labels)
        family.add_metric(list(_ROOT_FS.values()), float(round(value)))
        yield family
    readonly = GaugeMetricFamily(
        "node_filesystem_readonly", "Filesystem read-only status.", labels=labels
    )
    readonly.add_metric(list(_ROOT_FS.values()), 0.0)
    yield readonly


def _network(host: HostSnapshot) -> Iterator[Metric]:
    for direction, value in (("receive", host.net_rx_bytes), ("transmit", host.net_tx_bytes)):
        family = CounterMetricFamily(
            f"node_network_{direction}_bytes",
            f"Network device statistic {direction}_bytes.",
            labels=("device",),
        )
        family.add_metric([_NIC], float(round(value)))
        yield family
    up = GaugeMetricFamily(
        "node_network_up", "Value is 1 if operstate is 'up'.", labels=("device",)
    )
    up.add_metric([_NIC], 1.0)
    yield up
