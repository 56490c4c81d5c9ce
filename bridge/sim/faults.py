"""Fault kinds the simulator can inject, and parsing of the control API's JSON body.

Pure: no I/O, no clock. A `Fault` is a value; `state.NodeState` decides what it does to the
series.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Exporter(StrEnum):
    """The four exporters every node runs; also the Prometheus job names."""

    DCGM = "dcgm"
    NODE = "node"
    VLLM = "vllm"
    SPARK = "spark"


class FaultKind(StrEnum):
    OVERHEAT = "overheat"
    MEMORY_PRESSURE = "memory_pressure"
    XID = "xid"
    EXPORTER_DOWN = "exporter_down"
    NODE_DOWN = "node_down"
    CPU_HIGH = "cpu_high"
    UNDERUTILIZED = "underutilized"
    THROTTLE = "throttle"


# Defaults chosen to cross the seed's thresholds clearly (critical GPU temperature is 85 °C,
# high CPU 90 %, underutilised GPU 10 %), so one injection fires the matching alert.
DEFAULT_VALUES: Mapping[FaultKind, float] = {
    FaultKind.OVERHEAT: 90.0,  # °C
    FaultKind.MEMORY_PRESSURE: 97.0,  # % of (unified or framebuffer) memory used
    FaultKind.CPU_HIGH: 97.0,  # % CPU busy
    FaultKind.UNDERUTILIZED: 2.0,  # % GPU utilisation
    # dcgm clock event reasons bitmask: 0x40 HW thermal slowdown | 0x20 SW thermal slowdown.
    FaultKind.THROTTLE: float(0x40 | 0x20),
}

# Faults that carry a number, with the range that number must be in.
_VALUE_RANGES: Mapping[FaultKind, tuple[float, float]] = {
    FaultKind.OVERHEAT: (0.0, 150.0),
    FaultKind.MEMORY_PRESSURE: (0.0, 100.0),
    FaultKind.CPU_HIGH: (0.0, 100.0),
    FaultKind.UNDERUTILIZED: (0.0, 100.0),
    FaultKind.THROTTLE: (0.0, float(2**32 - 1)),
}


class FaultError(ValueError):
    """A control API request that names no valid fault; `field` says which input is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    since: float  # Unix time it was injected
    value: float | None = None
    code: int | None = None  # XID code
    exporter: Exporter | None = None  # for EXPORTER_DOWN

    @property
    def key(self) -> str:
        """One active fault per key: a second overheat replaces the first, but two exporters
        can be down at once."""
        if self.kind is FaultKind.EXPORTER_DOWN and self.exporter is not None:
            return f"{self.kind}:{self.exporter}"
        return self.kind.value

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"fault": self.kind.value, "since": self.since}
        if self.value is not None:
            out["value"] = self.value
        if self.code is not None:
            out["code"] = self.code
        if self.exporter is not None:
            out["exporter"] = self.exporter.value
        return out


def parse_fault(body: Mapping[str, object], now: float) -> tuple[str, Fault]:
    """`(node name, Fault)` from a `POST /faults` body; raises `FaultError` naming the field."""
    node = body.get("node")
    if not isinstance(node, str) or not node:
        raise FaultError("node", "'node' must be a node name such as 'dgx-spark-01'")
    raw_kind = body.get("fault")
    try:
        kind = FaultKind(str(raw_kind))
    except ValueError:
        choices = ", ".join(k.value for k in FaultKind)
        raise FaultError("fault", f"'fault' must be one of: {choices}") from None

    if kind is FaultKind.XID:
        return node, Fault(kind, now, code=_xid_code(body.get("code", body.get("value"))))
    if kind is FaultKind.EXPORTER_DOWN:
        raw_exporter = body.get("exporter")
        try:
            exporter = Exporter(str(raw_exporter))
        except ValueError:
            choices = ", ".join(e.value for e in Exporter)
            raise FaultError("exporter", f"'exporter' must be one of: {choices}") from None
        return node, Fault(kind, now, exporter=exporter)
    if kind is FaultKind.NODE_DOWN:
        return node, Fault(kind, now)
    return node, Fault(kind, now, value=_value(kind, body.get("value")))


def _xid_code(raw: object) -> int:
    # bool is an int in Python; `true` is never a meaningful XID.
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= 65535:
        raise FaultError("code", "'code' must be an XID number such as 79")
    return raw


def _value(kind: FaultKind, raw: object) -> float:
    if raw is None:
        return DEFAULT_VALUES[kind]
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise FaultError("value", f"'value' for {kind.value} must be a number")
    low, high = _VALUE_RANGES[kind]
    if not low <= raw <= high:
        raise FaultError("value", f"'value' for {kind.value} must be between {low:g} and {high:g}")
    return float(raw)
