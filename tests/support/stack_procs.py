"""Prometheus, Alertmanager and the simulator as real processes (see procs.Proc)."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from tests.support.procs import Proc, ready, require_binary, spawn, wait_until

if TYPE_CHECKING:
    from tests.support.peers import PeerVersions

# -- Prometheus --------------------------------------------------------------------------------


def start_prometheus(
    config_dir: Path,
    tmp_path: Path,
    port: int,
    extra_args: Sequence[str] = (),
    *,
    name: str = "prometheus",
    timeout: float = 60.0,
    peers: PeerVersions | None = None,
) -> Proc:
    """Prometheus on 127.0.0.1:`port` with `config_dir/prometheus.yml`; ready when /-/ready is 200.

    The lifecycle API is on, so a test can POST /-/reload after rewriting a rule file.
    `peers` is the end of the supported range to run (the `peer_versions` fixture); default
    the machine's own package.
    """
    binary = require_binary("prometheus", peers)
    data = tmp_path / f"{name}-data"
    argv = [
        binary,
        f"--config.file={config_dir / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2h",
        *extra_args,
    ]
    proc = spawn(Proc, name, argv, tmp_path, f"http://127.0.0.1:{port}")
    return ready(proc, "/-/ready", timeout)


def prom_query(base_url: str, expr: str, timeout: float = 10.0) -> dict[str, Any]:
    """The `data` of an instant query; raises on HTTP errors or status != success."""
    response = requests.get(f"{base_url}/api/v1/query", params={"query": expr}, timeout=timeout)
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        raise AssertionError(f"query {expr!r} failed: {response.status_code} {body}")
    data: dict[str, Any] = body["data"]
    return data


def prom_alerts(base_url: str) -> list[dict[str, Any]]:
    """Alerts Prometheus holds right now (pending and firing)."""
    response = requests.get(f"{base_url}/api/v1/alerts", timeout=10)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return alerts


# -- Alertmanager ------------------------------------------------------------------------------


def start_alertmanager(
    config_file: Path,
    tmp_path: Path,
    port: int,
    cluster_peers: Sequence[int | str] | None = None,
    cluster_port: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    name: str = "alertmanager",
    timeout: float = 60.0,
    peers: PeerVersions | None = None,
) -> Proc:
    """Alertmanager (`prometheus-alertmanager`, Debian's name) on 127.0.0.1:`port`.

    Without `cluster_port` clustering is off (an empty --cluster.listen-address): a lone
    instance otherwise waits for gossip to settle before sending anything. For an HA pair give
    each its own `cluster_port` and the other's port (or host:port) in `cluster_peers`.
    `peers` is the end of the supported range to run (the `peer_versions` fixture); default
    the machine's own package.
    """
    binary = require_binary("prometheus-alertmanager", peers)
    argv = [
        binary,
        f"--config.file={config_file}",
        f"--storage.path={tmp_path / (name + '-data')}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if cluster_port is None:
        argv.append("--cluster.listen-address=")
    else:
        argv += [
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            # Advertise exactly the address the peers dial, rather than letting memberlist
            # pick one from the host's interfaces.
            f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
        ]
        for peer in cluster_peers or ():
            address = f"127.0.0.1:{peer}" if isinstance(peer, int) else peer
            argv.append(f"--cluster.peer={address}")
    argv += list(extra_args)
    proc = spawn(Proc, name, argv, tmp_path, f"http://127.0.0.1:{port}")
    return ready(proc, "/-/ready", timeout)


def am_silences(base_url: str) -> list[dict[str, Any]]:
    """Every silence Alertmanager holds (API v2), expired ones included."""
    response = requests.get(f"{base_url}/api/v2/silences", timeout=10)
    response.raise_for_status()
    silences: list[dict[str, Any]] = response.json()
    return silences


def am_alerts(base_url: str, **filters: str) -> list[dict[str, Any]]:
    """Alerts Alertmanager holds (API v2), filtered by exact label values."""
    params = [("filter", f'{key}="{value}"') for key, value in filters.items()]
    response = requests.get(f"{base_url}/api/v2/alerts", params=params, timeout=10)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts


# -- the simulator -----------------------------------------------------------------------------


class SimulatorProc(Proc):
    """`python -m bridge.sim` plus typed helpers for its control API (`url` is that API)."""

    def inject(self, node: str, fault: str, **params: object) -> dict[str, Any]:
        body = {"node": node, "fault": fault, **params}
        response = requests.post(f"{self.url}/faults", json=body, timeout=10)
        if response.status_code != 201:
            raise AssertionError(f"inject {body} failed: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def clear(self, node: str | None = None, fault: str | None = None) -> int:
        params = {k: v for k, v in (("node", node), ("fault", fault)) if v is not None}
        response = requests.delete(f"{self.url}/faults", params=params, timeout=10)
        response.raise_for_status()
        cleared: int = response.json()["cleared"]
        return cleared

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = requests.get(f"{self.url}/faults", timeout=10).json()[
            "faults"
        ]
        return faults

    def nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = requests.get(f"{self.url}/nodes", timeout=10).json()["nodes"]
        return nodes

    def targets(self) -> dict[str, list[dict[str, Any]]]:
        targets: dict[str, list[dict[str, Any]]] = requests.get(
            f"{self.url}/targets", timeout=10
        ).json()
        return targets


_CONTROL_LINE = re.compile(r"^control API (http://\S+?)/? ", re.MULTILINE)


def start_simulator(
    tmp_path: Path,
    *,
    nodes: int = 2,
    flavours: str = "gb10,datacenter",
    targets_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    name: str = "simulator",
    timeout: float = 30.0,
) -> SimulatorProc:
    """The simulator as a subprocess, every port chosen by the OS (no clash with others).

    Its control API URL is read from the line it prints at start; exporter URLs are in
    `nodes()`, file_sd groups in `targets()`, and in `targets_dir` when given.
    """
    argv = [
        sys.executable,
        "-u",  # unbuffered: the control API line must reach the log at once
        "-m",
        "bridge.sim",
        f"--nodes={nodes}",
        f"--flavours={flavours}",
        "--base-port=0",
        "--control-port=0",
    ]
    if targets_dir is not None:
        argv.append(f"--write-targets={targets_dir}")
    argv += list(extra_args)
    proc = spawn(SimulatorProc, name, argv, tmp_path, url="")

    def control_url() -> str | None:
        match = _CONTROL_LINE.search(proc.log_path.read_text(errors="replace"))
        return match.group(1) if match else None

    try:
        proc.url = wait_until(
            control_url, timeout=timeout, what="the simulator's control API line", procs=[proc]
        )
    except BaseException:
        proc.stop()
        raise
    return ready(proc, "/healthz", timeout)
