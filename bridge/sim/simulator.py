"""Wires node states, exporters and the control API together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from prometheus_client.core import Metric

from bridge.sim import dcgm, node_exporter, spark, vllm
from bridge.sim.control import UnknownNodeError, control_app
from bridge.sim.faults import Exporter, Fault, FaultKind
from bridge.sim.httpd import Listener, SnapshotCollector, metrics_app
from bridge.sim.profiles import Flavour
from bridge.sim.snapshots import NodeSnapshot, NodeSpec, VllmNames
from bridge.sim.state import NodeState
from bridge.sim.targets import METRICS_PATHS, FileSd, PortLayout, file_sd

DEFAULT_BASE_PORT = 19400
DEFAULT_CONTROL_PORT = 19399


@dataclass(frozen=True)
class SimConfig:
    nodes: int = 2
    # Assigned to nodes cyclically: the default two-node demo has one of each.
    flavours: tuple[Flavour, ...] = (Flavour.GB10, Flavour.DATACENTER)
    vllm_names: tuple[VllmNames, ...] = (VllmNames.V1,)
    host: str = "127.0.0.1"
    base_port: int = DEFAULT_BASE_PORT
    control_port: int = DEFAULT_CONTROL_PORT
    xid_window_seconds: float = 300.0  # dcgm-exporter's --xid-count-window-size default
    spark_namespace: str = spark.DEFAULT_NAMESPACE
    # Address written into file_sd targets, when Prometheus reaches the simulator by another
    # name than the one it listens on (e.g. host.docker.internal from a container).
    target_host: str | None = None
    name_prefix: str = "dgx-spark-"
    specs: tuple[NodeSpec, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.nodes < 1:
            raise ValueError("at least one node is needed")
        if not self.flavours or not self.vllm_names:
            raise ValueError("flavours and vllm_names must not be empty")
        specs = tuple(
            NodeSpec(
                name=f"{self.name_prefix}{i + 1:02d}",
                index=i,
                flavour=self.flavours[i % len(self.flavours)],
                cluster_size=self.nodes,
                vllm_names=self.vllm_names[i % len(self.vllm_names)],
            )
            for i in range(self.nodes)
        )
        object.__setattr__(self, "specs", specs)


class Simulator:
    """The running simulator. `start()` opens every port; `close()` closes them."""

    def __init__(self, config: SimConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._layout = PortLayout(config.base_port)
        # One lock for all node state: scrapes and fault changes are rare and short.
        self._lock = threading.Lock()
        # Serialises opening/closing ports, which may block for a poll interval.
        self._ports_lock = threading.Lock()
        start = clock()
        self._states = {
            spec.name: NodeState(spec, start, config.xid_window_seconds) for spec in config.specs
        }
        self._listeners: dict[tuple[str, Exporter], Listener] = {}
        for spec in config.specs:
            for exporter in Exporter:
                collector = SnapshotCollector(
                    partial(self.snapshot, spec.name), self._renderer(exporter)
                )
                app = metrics_app(collector, METRICS_PATHS[exporter])
                port = self._layout.port(spec.index, exporter)
                self._listeners[(spec.name, exporter)] = Listener(config.host, port, app)
        self.control = Listener(config.host, config.control_port, control_app(self))

    def _renderer(self, exporter: Exporter) -> Callable[[NodeSnapshot], Iterable[Metric]]:
        if exporter is Exporter.DCGM:
            return partial(dcgm.collect, xid_window_seconds=self.config.xid_window_seconds)
        if exporter is Exporter.NODE:
            return node_exporter.collect
        if exporter is Exporter.VLLM:
            return vllm.collect
        return partial(spark.collect, namespace=self.config.spark_namespace)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._sync_ports()
            self.control.start()
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        self.control.stop()
        with self._ports_lock:
            for listener in self._listeners.values():
                listener.stop()

    def __enter__(self) -> Simulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _sync_ports(self) -> None:
        """Open the ports of exporters that should answer, close the others."""
        # Read the wanted state inside the ports lock, so two control requests racing each
        # other cannot apply an older view after a newer one.
        with self._ports_lock:
            with self._lock:
                wanted = {key: self._states[key[0]].serves(key[1]) for key in self._listeners}
            for key, serve in wanted.items():
                listener = self._listeners[key]
                if serve:
                    listener.start()
                else:
                    listener.stop()

    # -- data -----------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def snapshot(self, node: str) -> NodeSnapshot:
        with self._lock:
            return self._states[node].snapshot(self._clock())

    def endpoints(self) -> list[tuple[str, Exporter, str]]:
        """(node, exporter, URL) for every exporter, whether or not it answers right now."""
        return [
            (node, exporter, listener.url(METRICS_PATHS[exporter]))
            for (node, exporter), listener in self._listeners.items()
        ]

    # -- Controls (the control API) -----------------------------------------------------

    def inject(self, node: str, fault: Fault) -> None:
        with self._lock:
            self._state(node).inject(fault)
        self._sync_ports()

    def clear(self, node: str | None = None, kind: FaultKind | None = None) -> int:
        now = self._clock()
        with self._lock:
            states = list(self._states.values()) if node is None else [self._state(node)]
            cleared = sum(state.clear(now, kind) for state in states)
        self._sync_ports()
        return cleared

    def faults(self) -> list[dict[str, object]]:
        with self._lock:
            return [
                {"node": name, **fault.to_json()}
                for name, state in self._states.items()
                for fault in state.faults.values()
            ]

    def nodes(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for spec in self.config.specs:
            exporters: dict[str, object] = {}
            for exporter in Exporter:
                listener = self._listeners[(spec.name, exporter)]
                exporters[exporter.value] = {
                    "url": listener.url(METRICS_PATHS[exporter]),
                    "up": listener.running,
                }
            out.append(
                {
                    "node": spec.name,
                    "role": spec.role,
                    "flavour": spec.flavour.value,
                    "model": spec.profile.model_name,
                    "vllm_names": spec.vllm_names.value,
                    "exporters": exporters,
                }
            )
        return out

    def targets(self) -> dict[str, FileSd]:
        host = self.config.target_host or self.config.host
        ports = {key: listener.port for key, listener in self._listeners.items()}
        return file_sd(self.config.specs, ports, host)

    def _state(self, node: str) -> NodeState:
        try:
            return self._states[node]
        except KeyError:
            raise UnknownNodeError(node) from None
