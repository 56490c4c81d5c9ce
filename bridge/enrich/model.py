"""What the I/O edge hands to the pure context builders: samples, series, probe results,
or a failure with a reason a human can read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sample:
    """One series of an instant query: its labels and value."""

    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True)
class Series:
    """One series of a range query: `(unix seconds, value)` points, oldest first."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Failure:
    """Why a piece of context is missing: `Prometheus did not answer within 2s`."""

    reason: str


@dataclass(frozen=True)
class TcpResult:
    address: str  # host:port as Prometheus's `instance` label has it
    job: str
    state: str  # open | refused | timeout | unreachable | error
    detail: str = ""


QueryOutcome = tuple[Sample, ...] | Failure
RangeOutcome = tuple[Series, ...] | Failure


@dataclass(frozen=True)
class Outcomes:
    """Everything one enrichment fetched, keyed as the plan named it."""

    queries: Mapping[str, QueryOutcome] = field(default_factory=dict)
    chart: RangeOutcome | None = None
    tcp: tuple[TcpResult, ...] | Failure | None = None
