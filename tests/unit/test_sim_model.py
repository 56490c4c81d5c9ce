"""The simulator's pure model: fault parsing and node state, without any HTTP."""

from __future__ import annotations

import pytest

from bridge.sim.faults import Exporter, Fault, FaultError, FaultKind, parse_fault
from bridge.sim.profiles import Flavour
from bridge.sim.snapshots import NodeSpec
from bridge.sim.state import NodeState, wobble

T0 = 1_700_000_000.0


def gb10_state() -> NodeState:
    return NodeState(NodeSpec("dgx-spark-01", 0, Flavour.GB10), T0)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"node": "n", "fault": "overheat"}, Fault(FaultKind.OVERHEAT, T0, value=90.0)),
        ({"node": "n", "fault": "overheat", "value": 99}, Fault(FaultKind.OVERHEAT, T0, 99.0)),
        ({"node": "n", "fault": "xid", "code": 79}, Fault(FaultKind.XID, T0, code=79)),
        ({"node": "n", "fault": "xid", "value": 48}, Fault(FaultKind.XID, T0, code=48)),
        (
            {"node": "n", "fault": "exporter_down", "exporter": "dcgm"},
            Fault(FaultKind.EXPORTER_DOWN, T0, exporter=Exporter.DCGM),
        ),
        ({"node": "n", "fault": "node_down"}, Fault(FaultKind.NODE_DOWN, T0)),
        ({"node": "n", "fault": "throttle"}, Fault(FaultKind.THROTTLE, T0, value=96.0)),
    ],
)
def test_parse_fault_accepts_documented_bodies(body: dict[str, object], expected: Fault) -> None:
    assert parse_fault(body, T0) == ("n", expected)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"fault": "overheat"}, "node"),
        ({"node": "n", "fault": "melt"}, "fault"),
        ({"node": "n", "fault": "xid"}, "code"),
        ({"node": "n", "fault": "xid", "code": True}, "code"),
        ({"node": "n", "fault": "exporter_down", "exporter": "ipmi"}, "exporter"),
        ({"node": "n", "fault": "overheat", "value": "hot"}, "value"),
        ({"node": "n", "fault": "cpu_high", "value": 150}, "value"),
    ],
)
def test_parse_fault_names_the_wrong_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_fault(body, T0)
    assert info.value.field == field


def test_two_exporters_can_be_down_at_once_but_overheat_replaces_overheat() -> None:
    state = gb10_state()
    state.inject(Fault(FaultKind.EXPORTER_DOWN, T0, exporter=Exporter.DCGM))
    state.inject(Fault(FaultKind.EXPORTER_DOWN, T0, exporter=Exporter.VLLM))
    state.inject(Fault(FaultKind.OVERHEAT, T0, value=88.0))
    state.inject(Fault(FaultKind.OVERHEAT, T0, value=95.0))
    assert len(state.faults) == 3
    assert not state.serves(Exporter.DCGM)
    assert not state.serves(Exporter.VLLM)
    assert state.serves(Exporter.NODE)
    assert state.snapshot(T0).gpu.temp_c == pytest.approx(95, abs=1)


def test_counters_never_go_down_across_fault_changes() -> None:
    state = gb10_state()
    before = state.snapshot(T0 + 10)
    state.inject(Fault(FaultKind.UNDERUTILIZED, T0 + 10, value=2.0))
    state.clear(T0 + 20)
    after = state.snapshot(T0 + 30)
    assert after.gpu.energy_mj > before.gpu.energy_mj
    assert after.inference.prompt_tokens > before.inference.prompt_tokens
    for key, seconds in before.host.cpu_seconds.items():
        assert after.host.cpu_seconds[key] >= seconds


def test_counters_start_from_the_uptime_not_from_zero() -> None:
    host = gb10_state().snapshot(T0).host
    uptime = T0 - host.boot_time
    # Every CPU has spent the whole uptime in some mode.
    cpu0 = sum(seconds for (cpu, _), seconds in host.cpu_seconds.items() if cpu == 0)
    assert cpu0 == pytest.approx(uptime, rel=1e-6)


def test_cpu_seconds_advance_at_the_target_utilisation() -> None:
    state = gb10_state()
    state.inject(Fault(FaultKind.CPU_HIGH, T0, value=95.0))
    a, b = state.snapshot(T0).host, state.snapshot(T0 + 60).host
    idle = sum(b.cpu_seconds[k] - a.cpu_seconds[k] for k in a.cpu_seconds if k[1] == "idle")
    iowait = sum(b.cpu_seconds[k] - a.cpu_seconds[k] for k in a.cpu_seconds if k[1] == "iowait")
    busy = 1 - (idle + iowait) / (60 * a.cpu_count)
    assert busy == pytest.approx(0.95, abs=0.02)


def test_xid_gauge_is_sticky_but_the_count_leaves_the_window() -> None:
    state = NodeState(NodeSpec("n", 0, Flavour.GB10), T0, xid_window_seconds=60)
    state.inject(Fault(FaultKind.XID, T0, code=79))
    assert state.snapshot(T0 + 1).gpu.xid_counts == {79: 1}
    later = state.snapshot(T0 + 120).gpu
    assert later.xid_last == 79
    assert later.xid_counts == {}


def test_histogram_buckets_are_cumulative() -> None:
    for histogram in gb10_state().snapshot(T0).inference.histograms.values():
        counts = [count for _, count in histogram.buckets]
        assert counts == sorted(counts)
        assert counts[-1] == histogram.count > 0


def test_wobble_is_deterministic_and_bounded() -> None:
    assert wobble("a", 123.0, 2.0) == wobble("a", 123.0, 2.0)
    assert wobble("a", 123.0, 2.0) != wobble("b", 123.0, 2.0)
    assert all(abs(wobble("a", t, 2.0)) <= 2.0 for t in range(0, 1000, 7))
