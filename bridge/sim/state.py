"""The state of one simulated node: active faults, integrated counters, and snapshots.

Pure: the caller passes the time. Gauges are computed from the faults and a deterministic
wobble of the time, so two scrapes at the same instant agree; counters are integrated from
their current rates every time the state is advanced (at each scrape and before each fault
change), so they only ever go up and bend when a fault changes a rate.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping

from bridge.sim.faults import Exporter, Fault, FaultKind
from bridge.sim.profiles import Flavour
from bridge.sim.snapshots import (
    GpuSnapshot,
    HistogramSnapshot,
    HostSnapshot,
    InferenceSnapshot,
    NodeSnapshot,
    NodeSpec,
    SparkSnapshot,
)

# CPU modes as node_exporter reports them; the busy ones share the busy time in these ratios.
_BUSY_MODES = {"user": 0.70, "system": 0.22, "softirq": 0.05, "irq": 0.02, "nice": 0.01}
CPU_MODES = ("idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user")

# Healthy baseline: GPU ~55 °C and ~60 % busy, memory ~50 % used, CPU ~30 % busy.
_GPU_UTIL = 60.0
_CPU_UTIL = 30.0
_MEMORY_USED = 0.50
_KV_CACHE = 0.35
_REQUESTS_PER_SECOND = 2.0

# vLLM latency histograms: bucket bounds (seconds) and the typical value when healthy and when
# memory is short (preemptions and swapping make everything slower).
HISTOGRAM_BOUNDS: Mapping[str, tuple[float, ...]] = {
    "ttft": (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0),
    "itl": (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5),
    "e2e": (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 60.0),
    "queue": (0.001, 0.01, 0.05, 0.1, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0),
}
_TYPICAL_LATENCY: Mapping[str, tuple[float, float]] = {
    "ttft": (0.12, 1.8),
    "itl": (0.025, 0.09),
    "e2e": (3.5, 18.0),
    "queue": (0.02, 4.0),
}
# Each batch of observations is spread over three points around the typical value, so
# histogram_quantile has a distribution to interpolate rather than a single spike.
_SPREAD = ((0.5, 0.25), (1.0, 0.5), (2.0, 0.25))


def wobble(key: str, t: float, amplitude: float) -> float:
    """Deterministic noise in [-amplitude, amplitude]: smooth in time, different per key."""
    phase = (zlib.crc32(key.encode()) / 2**32) * 2 * math.pi
    return amplitude * (0.6 * math.sin(t / 37.0 + phase) + 0.4 * math.sin(t / 11.0 + 2 * phase))


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


class _Histogram:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0.0] * (len(bounds) + 1)
        self._sum = 0.0

    def observe(self, value: float, times: float) -> None:
        index = next((i for i, bound in enumerate(self._bounds) if value <= bound), -1)
        self._counts[index] += times
        self._sum += value * times

    def snapshot(self) -> HistogramSnapshot:
        # Whole observations, as a real histogram has; rounding a non-decreasing sequence
        # keeps it non-decreasing, so buckets stay cumulative and counters stay monotonic.
        cumulative, running = [], 0.0
        for bound, count in zip((*self._bounds, math.inf), self._counts, strict=True):
            running += count
            cumulative.append((bound, float(round(running))))
        return HistogramSnapshot(tuple(cumulative), round(self._sum, 3), cumulative[-1][1])


class NodeState:
    """One node's faults and counters. Not thread-safe: the simulator holds a lock around it."""

    def __init__(self, spec: NodeSpec, start: float, xid_window_seconds: float = 300.0) -> None:
        self.spec = spec
        self.faults: dict[str, Fault] = {}
        self._xid_window = xid_window_seconds
        self._xid_events: list[tuple[float, int]] = []
        self._xid_last = 0
        # A node that has been up for a few days, so counters do not start at zero.
        self.boot_time = start - 3 * 86400 - spec.index * 3600
        self._energy_mj = 0.0
        self._nvlink_bytes = 0.0
        self._cpu_seconds = {
            (cpu, mode): 0.0 for cpu in range(spec.profile.cpu_count) for mode in CPU_MODES
        }
        self._psi_waiting = 0.0
        self._psi_stalled = 0.0
        self._net_rx = 0.0
        self._net_tx = 0.0
        self._prompt_tokens = 0.0
        self._generation_tokens = 0.0
        self._preemptions = 0.0
        self._successes = {"stop": 0.0, "length": 0.0, "abort": 0.0}
        self._histograms = {key: _Histogram(bounds) for key, bounds in HISTOGRAM_BOUNDS.items()}
        # Counters count since boot: fill them for the uptime so far, at the healthy rates.
        self._last = self.boot_time
        self.advance(start)

    # -- faults -----------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        self.advance(fault.since)  # counters so far ran at the old rates
        if fault.kind is FaultKind.XID and fault.code is not None:
            self._xid_events.append((fault.since, fault.code))
            self._xid_last = fault.code
        self.faults[fault.key] = fault

    def clear(self, now: float, kind: FaultKind | None = None) -> int:
        """Remove all faults (or all of one kind); returns how many were removed.

        Clearing an XID also forgets the sticky gauge: it stands for restarting the GPU and the
        exporter, which is what an operator does after an XID that needs action.
        """
        self.advance(now)
        doomed = [key for key, fault in self.faults.items() if kind in (None, fault.kind)]
        for key in doomed:
            del self.faults[key]
        if kind in (None, FaultKind.XID):
            self._xid_events.clear()
            self._xid_last = 0
        return len(doomed)

    def serves(self, exporter: Exporter) -> bool:
        """Whether this exporter's port should accept connections."""
        if FaultKind.NODE_DOWN.value in self.faults:
            return False
        return f"{FaultKind.EXPORTER_DOWN}:{exporter}" not in self.faults

    def _value(self, kind: FaultKind) -> float | None:
        fault = self.faults.get(kind.value)
        return None if fault is None else fault.value

    # -- instantaneous values -------------------------------------------------------------

    def _gpu_util(self, t: float) -> float:
        forced = self._value(FaultKind.UNDERUTILIZED)
        if forced is not None:
            return forced
        return _clamp(_GPU_UTIL + wobble(self.spec.name + "gpu", t, 5.0), 0.0, 100.0)

    def _cpu_util(self, t: float) -> float:
        forced = self._value(FaultKind.CPU_HIGH)
        base = _CPU_UTIL if forced is None else forced
        amplitude = 4.0 if forced is None else 0.5
        return _clamp(base + wobble(self.spec.name + "cpu", t, amplitude), 0.0, 100.0) / 100.0

    def _power_w(self, t: float) -> float:
        p = self.spec.profile
        spread = p.max_power_w - p.idle_power_w
        return p.idle_power_w + spread * self._gpu_util(t) / 100.0 + wobble(self.spec.name, t, 2.0)

    def _memory_short(self) -> bool:
        return FaultKind.MEMORY_PRESSURE.value in self.faults

    def _memory_used_fraction(self, t: float) -> float:
        """Used share of the memory that memory_pressure targets (host RAM on GB10, FB else)."""
        pressure = self._value(FaultKind.MEMORY_PRESSURE)
        if pressure is not None:
            return _clamp(pressure / 100.0 + wobble(self.spec.name + "mem", t, 0.003), 0.0, 1.0)
        return _MEMORY_USED + wobble(self.spec.name + "mem", t, 0.03)

    def _host_used_fraction(self, t: float) -> float:
        # On GB10 the GPU's memory *is* host memory; a datacenter node's host RAM is unaffected.
        if self.spec.flavour is Flavour.GB10:
            return self._memory_used_fraction(t)
        return _MEMORY_USED + wobble(self.spec.name + "host", t, 0.03)

    def _request_rate(self) -> float:
        # An idle GPU is idle because little traffic arrives.
        idle = FaultKind.UNDERUTILIZED.value in self.faults
        return _REQUESTS_PER_SECOND * (0.05 if idle else 1.0)

    # -- counters -------------------------------------------------------------------------

    def advance(self, now: float) -> None:
        """Integrate every counter from the last call up to `now` at the current rates."""
        dt = now - self._last
        if dt <= 0:
            return
        self._last = now
        p = self.spec.profile
        self._energy_mj += self._power_w(now) * 1000.0 * dt
        if p.has_nvlink:
            self._nvlink_bytes += 2.0e10 * self._gpu_util(now) / 100.0 * dt
        self._advance_cpu(now, dt)
        short = self._memory_short() and self.spec.flavour is Flavour.GB10
        self._psi_waiting += (0.35 if short else 0.002) * dt
        self._psi_stalled += (0.15 if short else 0.0005) * dt
        self._net_rx += (6.0e7 + wobble(self.spec.name + "rx", now, 1.0e7)) * dt
        self._net_tx += (4.0e7 + wobble(self.spec.name + "tx", now, 1.0e7)) * dt
        self._advance_inference(now, dt)

    def _advance_cpu(self, now: float, dt: float) -> None:
        util = self._cpu_util(now)
        for cpu in range(self.spec.profile.cpu_count):
            busy = _clamp(util + wobble(f"{self.spec.name}cpu{cpu}", now, 0.03), 0.0, 1.0)
            iowait = 0.01 * (1.0 - busy)
            self._cpu_seconds[(cpu, "idle")] += (1.0 - busy - iowait) * dt
            self._cpu_seconds[(cpu, "iowait")] += iowait * dt
            for mode, share in _BUSY_MODES.items():
                self._cpu_seconds[(cpu, mode)] += busy * share * dt

    def _advance_inference(self, now: float, dt: float) -> None:
        short = self._memory_short()
        requests = self._request_rate() * dt
        generated = 120.0 * requests
        self._prompt_tokens += 400.0 * requests
        self._generation_tokens += generated
        self._preemptions += (0.5 * dt) if short else 0.0
        self._successes["stop"] += 0.9 * requests
        self._successes["length"] += 0.1 * requests
        for key, histogram in self._histograms.items():
            healthy, slow = _TYPICAL_LATENCY[key]
            typical = slow if short else healthy
            observations = generated if key == "itl" else requests
            for factor, weight in _SPREAD:
                histogram.observe(typical * factor, observations * weight)

    # -- snapshot -------------------------------------------------------------------------

    def snapshot(self, now: float) -> NodeSnapshot:
        self.advance(now)
        return NodeSnapshot(
            spec=self.spec,
            time=now,
            gpu=self._gpu_snapshot(now),
            host=self._host_snapshot(now),
            inference=self._inference_snapshot(now),
            spark=self._spark_snapshot(now),
        )

    def _gpu_snapshot(self, t: float) -> GpuSnapshot:
        p, name = self.spec.profile, self.spec.name
        util = self._gpu_util(t)
        forced_temp = self._value(FaultKind.OVERHEAT)
        if forced_temp is not None:
            temp = forced_temp + wobble(name + "temp", t, 0.5)
        else:
            temp = 38.0 + 0.28 * util + wobble(name + "temp", t, 1.5)  # ~55 °C at 60 %
        reasons = self._value(FaultKind.THROTTLE)
        throttled = reasons is not None
        sm_clock = p.throttled_sm_clock_mhz if throttled else p.max_sm_clock_mhz - 15.0
        fb_used = fb_free = None
        if p.fb_total_mib is not None:
            reserved = 487.0  # driver-reserved framebuffer, counted in neither used nor free
            fb_used = round((p.fb_total_mib - reserved) * self._memory_used_fraction(t))
            fb_free = p.fb_total_mib - reserved - fb_used
        cutoff = t - self._xid_window
        counts: dict[int, int] = {}
        for when, code in self._xid_events:
            if when > cutoff:
                counts[code] = counts.get(code, 0) + 1
        is_gb10 = self.spec.flavour is Flavour.GB10
        return GpuSnapshot(
            util_pct=round(util),
            temp_c=round(temp),
            # GB10 reports MEMORY_TEMP and MEM_COPY_UTIL as 0 (DOMAIN.md).
            memory_temp_c=0.0 if is_gb10 else round(temp + 8.0),
            power_w=round(self._power_w(t), 3),
            energy_mj=round(self._energy_mj),
            sm_clock_mhz=round(sm_clock + wobble(name + "clk", t, 10.0)),
            mem_clock_mhz=p.mem_clock_mhz,
            clock_event_reasons=0 if reasons is None else int(reasons),
            mem_copy_util_pct=0.0 if is_gb10 else round(util * 0.4),
            pcie_tx_kbps=round(30000.0 * util / 100.0 + wobble(name + "tx", t, 2000.0) + 2000.0),
            pcie_rx_kbps=round(50000.0 * util / 100.0 + wobble(name + "rx", t, 3000.0) + 3000.0),
            fb_used_mib=fb_used,
            fb_free_mib=fb_free,
            nvlink_bytes=self._nvlink_bytes if p.has_nvlink else None,
            xid_last=self._xid_last,
            xid_counts=counts,
        )

    def _host_snapshot(self, t: float) -> HostSnapshot:
        p, name = self.spec.profile, self.spec.name
        total = float(p.host_memory_bytes)
        available = total * (1.0 - self._host_used_fraction(t))
        load = p.cpu_count * self._cpu_util(t)
        return HostSnapshot(
            cpu_count=p.cpu_count,
            cpu_seconds=dict(self._cpu_seconds),
            load1=round(load * (1.0 + wobble(name + "l1", t, 0.1)), 2),
            load5=round(load * (1.0 + wobble(name + "l5", t, 0.04)), 2),
            load15=round(load, 2),
            mem_total=total,
            mem_available=available,
            # Available is roughly free + reclaimable page cache and buffers.
            mem_free=available * 0.35,
            buffers=available * 0.05,
            cached=available * 0.55,
            slab=total * 0.02,
            psi_waiting_seconds=self._psi_waiting,
            psi_stalled_seconds=self._psi_stalled,
            oom_kills=0.0,
            fs_size=float(p.filesystem_bytes),
            fs_avail=float(p.filesystem_bytes) * 0.6,
            net_rx_bytes=self._net_rx,
            net_tx_bytes=self._net_tx,
            boot_time=self.boot_time,
        )

    def _inference_snapshot(self, t: float) -> InferenceSnapshot:
        name = self.spec.name
        if self._memory_short():
            kv = _clamp(0.98 + wobble(name + "kv", t, 0.01), 0.0, 1.0)
            running, waiting = 4.0, 25.0
        elif FaultKind.UNDERUTILIZED.value in self.faults:
            kv, running, waiting = 0.02, 0.0, 0.0
        else:
            kv = _KV_CACHE + wobble(name + "kv", t, 0.05)
            running = float(round(8.0 + wobble(name + "run", t, 2.0)))
            waiting = float(max(0, round(wobble(name + "wait", t, 2.0))))
        return InferenceSnapshot(
            running=running,
            waiting=waiting,
            kv_cache_usage=round(kv, 4),
            prompt_tokens=round(self._prompt_tokens),
            generation_tokens=round(self._generation_tokens),
            preemptions=round(self._preemptions),
            successes={reason: round(count) for reason, count in self._successes.items()},
            histograms={key: h.snapshot() for key, h in self._histograms.items()},
        )

    def _spark_snapshot(self, t: float) -> SparkSnapshot:
        cores = self.spec.profile.cpu_count
        used = round(cores * self._cpu_util(t))
        mem_total_mb = self.spec.profile.host_memory_bytes / 2**20 * 0.25  # worker's share
        mem_used_mb = round(mem_total_mb * 0.5)
        return SparkSnapshot(
            role=self.spec.role,
            alive_workers=max(1, self.spec.cluster_size - 1),
            apps=1,
            executors=2,
            cores_used=used,
            cores_free=cores - used,
            worker_mem_used_mb=mem_used_mb,
            worker_mem_free_mb=mem_total_mb - mem_used_mb,
            block_manager_mem_used_mb=round(2048.0 + wobble(self.spec.name + "bm", t, 256.0)),
            block_manager_max_mem_mb=8192.0,
            active_jobs=1,
            running_stages=round(2.0 + wobble(self.spec.name + "stages", t, 1.5)),
        )
