"""Lines that combine several query results: `SM clock` against its recent maximum, memory
used of total with time to exhaustion, what an XID means, which exporters of a node are down.

Pure functions of the fetched values. Each builder gets the lines already formatted from the
family's visible queries (in order) and returns the family's lines and, where one number is
not enough, the key fact for the page summary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bridge.enrich.model import Failure, QueryOutcome, Sample, TcpResult
from bridge.enrich.queries import LAST_SEEN_WINDOW
from bridge.enrich.units import format_value, iec_bytes, megahertz, seconds
from bridge.enrich.xid import decode_xid

Lines = dict[str, str]


@dataclass(frozen=True)
class Facts:
    labels: Mapping[str, str]
    now: datetime
    last_seen_window: str = LAST_SEEN_WINDOW


class Values:
    """Read access to query outcomes by name; a failure or no data reads as nothing."""

    def __init__(self, outcomes: Mapping[str, QueryOutcome]) -> None:
        self._outcomes = outcomes

    def samples(self, name: str) -> tuple[Sample, ...]:
        outcome = self._outcomes.get(name)
        return () if outcome is None or isinstance(outcome, Failure) else outcome

    def failed(self, name: str) -> bool:
        return isinstance(self._outcomes.get(name), Failure)

    def one(self, name: str) -> float | None:
        samples = self.samples(name)
        if not samples or not math.isfinite(samples[0].value):
            return None
        return samples[0].value


@dataclass(frozen=True)
class Built:
    lines: Lines
    key: str | None = None


def _first(lines: Lines, first: Lines) -> Lines:
    """`first` at the top, then every other line in its order."""
    return {**first, **{k: v for k, v in lines.items() if k not in first}}


# -- GPU temperature ---------------------------------------------------------------------------


def gpu_temperature(facts: Facts, v: Values, lines: Lines, tcp: object) -> Built:
    lines = dict(lines)
    clock, peak = v.one("SM clock"), v.one("_sm_clock_max_1h")
    if clock is not None and peak:
        share = round(100 * clock / peak)
        lines["SM clock"] = f"{megahertz(clock)} ({share} % of its 1 h max, {megahertz(peak)})"
    key = None
    if "GPU temperature" in lines:
        key = lines["GPU temperature"] + (f", trend {lines['trend']}" if "trend" in lines else "")
    return Built(lines, key)


# -- GPU memory --------------------------------------------------------------------------------


def memory_lines(v: Values) -> Lines:
    """Framebuffer where DCGM exports it, the node's unified memory otherwise (GB10)."""
    fb_used, fb_free = v.one("_fb_used"), v.one("_fb_free")
    if fb_used is not None and fb_free is not None:
        kind, used, total = "framebuffer", fb_used, fb_used + fb_free
        slope = v.one("_fb_used_deriv")
    else:
        mem_total, available = v.one("_mem_total"), v.one("_mem_available")
        if mem_total is None or available is None or mem_total <= 0:
            return {}
        kind, used, total = "unified", mem_total - available, mem_total
        deriv = v.one("_mem_available_deriv")
        slope = -deriv if deriv is not None else None
    share = 100 * used / total if total else 0.0
    where = "framebuffer" if kind == "framebuffer" else "unified memory, shared with the CPU"
    out = {
        "GPU memory": (
            f"{format_value(share, 'percent')} used: {iec_bytes(used)} of {iec_bytes(total)} "
            f"({where})"
        )
    }
    if slope is not None:
        out["trend"] = format_value(slope, "bytes_per_second")
        out["time to exhaustion"] = (
            f"about {seconds((total - used) / slope)} at this rate"
            if slope > 0 and total > used
            else "not growing"
        )
    cache = v.one("_page_cache")
    if kind == "unified" and cache is not None:
        out["page cache"] = f"{iec_bytes(cache)} (competes with CUDA allocations)"
    return out


def gpu_memory(facts: Facts, v: Values, lines: Lines, tcp: object) -> Built:
    built = memory_lines(v)
    return Built(_first(lines, built), built.get("GPU memory"))


# -- XID ---------------------------------------------------------------------------------------


def node_state(targets: Sequence[Sample]) -> str:
    if not targets:
        return "unknown: Prometheus has no targets with this node label"
    answering = sum(1 for t in targets if t.value >= 1)
    if answering == 0:
        return f"no: none of its {len(targets)} exporters answers"
    return f"yes: {answering} of {len(targets)} exporters answer"


def xid(facts: Facts, v: Values, lines: Lines, tcp: object) -> Built:
    code: str | float | None = facts.labels.get("xid") or v.one("_last_xid")
    models = [s.labels.get("modelName", "") for s in v.samples("_model")]
    model = next((m for m in models if m), None)
    info = decode_xid(code, model)
    first: Lines = {
        "XID": f"{info.code}: {info.meaning}" if info.code is not None else info.meaning,
        "first action": info.action,
    }
    if info.note:
        first["note"] = info.note
    if model:
        first["GPU model"] = model
    out = _first(lines, first)
    if not v.failed("_targets"):
        out["node still up"] = node_state(v.samples("_targets"))
    return Built(out, f"{info.headline}; first action: {info.action}")


# -- node down ---------------------------------------------------------------------------------


def _target_name(sample: Sample) -> str:
    job, instance = sample.labels.get("job", "?"), sample.labels.get("instance", "")
    return f"{job} ({instance})" if instance else job


def _last_seen(facts: Facts, v: Values, down: Sequence[Sample]) -> str:
    seen = {
        (s.labels.get("job"), s.labels.get("instance")): s.value for s in v.samples("_last_seen")
    }
    parts = []
    for target in down:
        when = seen.get((target.labels.get("job"), target.labels.get("instance")))
        job = target.labels.get("job", "?")
        if when is None:
            # The lookback samples every 30 s: a target up for less than that (just
            # after a Prometheus restart) is missing from it too, so say only what is known.
            parts.append(f"{job}: not up in the last {facts.last_seen_window} of samples")
        else:
            ago = max(0.0, facts.now.timestamp() - when)
            parts.append(f"{job}: {seconds(ago)} ago")
    return " · ".join(parts)


def tcp_line(results: Sequence[TcpResult]) -> str:
    return " · ".join(
        f"{r.address} {r.state}" + (f" ({r.detail})" if r.detail else "") for r in results
    )


def _by_job(sample: Sample) -> tuple[str, str]:
    return sample.labels.get("job", ""), sample.labels.get("instance", "")


def node_down(facts: Facts, v: Values, lines: Lines, tcp: object) -> Built:
    targets = sorted(v.samples("_targets"), key=_by_job)
    down = [t for t in targets if t.value < 1]
    up = [t for t in targets if t.value >= 1]
    first: Lines = {}
    key = None
    if targets:
        first["exporters down"] = ", ".join(_target_name(t) for t in down) or "none"
        first["exporters up"] = ", ".join(_target_name(t) for t in up) or "none"
        if down:
            first["last seen"] = _last_seen(facts, v, down)
        jobs = ", ".join(t.labels.get("job", "?") for t in down)
        if not down:
            key = f"all {len(targets)} exporters answer"
        elif not up:
            key = f"all {len(targets)} exporters down ({jobs})"
        else:
            key = f"{jobs} down, {len(up)} of {len(targets)} exporters answer"
    elif not v.failed("_targets"):
        first["exporters down"] = "unknown: Prometheus has no targets with this node label"
    if isinstance(tcp, tuple) and tcp:
        tcp = tuple(sorted(tcp, key=lambda r: (r.job, r.address)))
        first["TCP from the bridge"] = tcp_line(tcp)
        opened = sum(1 for r in tcp if r.state == "open")
        if key:
            key += f"; TCP from the bridge: {opened} of {len(tcp)} ports open"
    return Built(_first(lines, first), key)


# -- CPU, memory, under-utilisation ------------------------------------------------------------


def node_resources(facts: Facts, v: Values, lines: Lines, tcp: object) -> Built:
    first: Lines = {}
    if "CPU busy" in lines:
        first["CPU busy"] = lines["CPU busy"]
    loads = [v.one(n) for n in ("_load1", "_load5", "_load15")]
    if all(x is not None for x in loads):
        cpus = v.one("_cpus")
        text = " / ".join(f"{x:.1f}" for x in loads if x is not None) + " (1 / 5 / 15 min)"
        first["load"] = text + (f" on {cpus:.0f} CPUs" if cpus else "")
    total, available = v.one("_mem_total"), v.one("_mem_available")
    if total and available is not None:
        used = total - available
        first["memory used"] = (
            f"{format_value(100 * used / total, 'percent')} "
            f"({iec_bytes(used)} of {iec_bytes(total)})"
        )
        parts = [f"available {iec_bytes(available)}"]
        for name, label in (("_page_cache", "page cache"), ("_buffers", "buffers")):
            value = v.one(name)
            if value is not None:
                parts.append(f"{label} {iec_bytes(value)}")
        free = v.one("_mem_free")
        if free is not None:
            parts.append(f"free {iec_bytes(free)}")
        first["memory breakdown"] = " · ".join(parts)
    return Built(_first(lines, first))


Builder = Callable[[Facts, Values, Lines, object], Built]

BUILDERS: dict[str, Builder] = {
    "gpu_temperature": gpu_temperature,
    "gpu_memory": gpu_memory,
    "xid": xid,
    "node_down": node_down,
    "node_resources": node_resources,
}
