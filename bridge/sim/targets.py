"""Port layout and Prometheus file_sd target files for the simulated nodes.

The files have the shape of the repository's `prometheus/targets/*.yml` (one group per node,
labels `node` and `role`), so a real Prometheus runs the project's own `prometheus.yml` with
only the targets directory swapped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from bridge.sim.faults import Exporter
from bridge.sim.snapshots import NodeSpec

# Node i listens on base + 10*i + offset: room for 10 ports per node keeps the layout
# readable in `ss -ltn` and leaves space for more exporters.
PORT_OFFSETS: dict[Exporter, int] = {
    Exporter.DCGM: 0,
    Exporter.NODE: 1,
    Exporter.VLLM: 2,
    Exporter.SPARK: 3,
}
PORTS_PER_NODE = 10

METRICS_PATHS: dict[Exporter, str] = {
    Exporter.DCGM: "/metrics",
    Exporter.NODE: "/metrics",
    Exporter.VLLM: "/metrics",
    Exporter.SPARK: "/metrics/prometheus",  # PrometheusServlet's path, as prometheus.yml expects
}

FileSd = list[dict[str, object]]


@dataclass(frozen=True)
class PortLayout:
    base: int  # 0: every exporter gets a free port from the OS (tests); see GET /nodes

    def port(self, node_index: int, exporter: Exporter) -> int:
        if self.base == 0:
            return 0
        return self.base + PORTS_PER_NODE * node_index + PORT_OFFSETS[exporter]


def file_sd(
    specs: Sequence[NodeSpec], ports: Mapping[tuple[str, Exporter], int], host: str
) -> dict[str, FileSd]:
    """Target groups per job name (`dcgm`, `node`, `vllm`, `spark`); `ports` is keyed by
    (node name, exporter)."""
    return {
        exporter.value: [
            {
                "targets": [f"{host}:{ports[(spec.name, exporter)]}"],
                "labels": {"node": spec.name, "role": spec.role},
            }
            for spec in specs
        ]
        for exporter in Exporter
    }


def write_file_sd(directory: Path, groups: dict[str, FileSd]) -> list[Path]:
    """Write `<job>-targets.yml` per job; returns the paths written.

    Each file is replaced atomically: Prometheus watches these files and would otherwise
    read a half-written one and drop the targets until the next change.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for job, groups_for_job in groups.items():
        path = directory / f"{job}-targets.yml"
        text = (
            f"# Written by `alert-bridge simulate`: simulated {job} exporters.\n"
            + yaml.safe_dump(groups_for_job, sort_keys=False, default_flow_style=False)
        )
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{job}-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from a containerised Prometheus
        os.replace(tmp, path)
        written.append(path)
    return written
