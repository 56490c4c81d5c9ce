"""`alert-bridge simulate` (also `python -m bridge.sim`): run the simulated cluster."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from enum import StrEnum
from functools import partial
from pathlib import Path
from types import FrameType
from typing import TypeVar

from bridge.durations import DurationError, parse_duration
from bridge.sim.profiles import Flavour
from bridge.sim.simulator import DEFAULT_BASE_PORT, DEFAULT_CONTROL_PORT, SimConfig, Simulator
from bridge.sim.snapshots import VllmNames
from bridge.sim.spark import DEFAULT_NAMESPACE
from bridge.sim.targets import write_file_sd

E = TypeVar("E", bound=StrEnum)


def _csv(text: str, kind: type[E]) -> tuple[E, ...]:
    try:
        return tuple(kind(part.strip()) for part in text.split(",") if part.strip())
    except ValueError:
        choices = ",".join(member.value for member in kind)
        raise argparse.ArgumentTypeError(f"use a comma-separated list of {choices}") from None


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=2, help="number of nodes (default: 2)")
    parser.add_argument(
        "--flavours",
        type=partial(_csv, kind=Flavour),
        default=(Flavour.GB10, Flavour.DATACENTER),
        help="GPU flavours assigned to nodes cyclically: gb10 (DGX Spark, no framebuffer "
        "series) and/or datacenter (H100-class) (default: gb10,datacenter)",
    )
    parser.add_argument(
        "--vllm-names",
        type=partial(_csv, kind=VllmNames),
        default=(VllmNames.V1,),
        help="vLLM metric names per node, cyclically: v1, legacy (vLLM < 0.12) or both "
        "(default: v1)",
    )
    parser.add_argument(
        "--vllm-legacy-names",
        action="store_true",
        help="serve only the old vLLM names (gpu_cache_usage_perc, ...) on every node, like "
        "NVIDIA's vLLM 0.10 container; same as --vllm-names legacy",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help="node i listens on BASE+10*i+{0 dcgm, 1 node, 2 vllm, 3 spark}; 0 takes any "
        f"free ports (printed, and listed by GET /nodes) (default: {DEFAULT_BASE_PORT})",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        default=DEFAULT_CONTROL_PORT,
        help=f"port of the fault control API; 0 takes a free one (default: {DEFAULT_CONTROL_PORT})",
    )
    parser.add_argument(
        "--xid-window",
        type=_duration,
        default=300.0,
        metavar="DURATION",
        help="how long DCGM_EXP_XID_ERRORS_COUNT reports an XID (dcgm-exporter's "
        "--xid-count-window-size; default: 5m)",
    )
    parser.add_argument(
        "--spark-namespace",
        default=DEFAULT_NAMESPACE,
        help=f"spark.metrics.namespace of the simulated driver (default: {DEFAULT_NAMESPACE})",
    )
    parser.add_argument(
        "--write-targets",
        type=Path,
        metavar="DIR",
        help="write {dcgm,node,vllm,spark}-targets.yml (file_sd) pointing at the simulator",
    )
    parser.add_argument(
        "--target-host",
        help="host name to write into the targets, when Prometheus reaches the simulator "
        "by another name than --host (e.g. host.docker.internal)",
    )


def config_from_args(args: argparse.Namespace) -> SimConfig:
    vllm_names = (VllmNames.LEGACY,) if args.vllm_legacy_names else tuple(args.vllm_names)
    return SimConfig(
        nodes=args.nodes,
        flavours=tuple(args.flavours),
        vllm_names=vllm_names,
        host=args.host,
        base_port=args.base_port,
        control_port=args.control_port,
        xid_window_seconds=args.xid_window,
        spark_namespace=args.spark_namespace,
        target_host=args.target_host,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 2 when the setup is unusable."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    simulator = Simulator(config)
    try:
        simulator.start()
    except OSError as exc:
        print(f"simulate: cannot listen: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if args.write_targets is not None:
            for path in write_file_sd(args.write_targets, simulator.targets()):
                print(f"wrote {path}")
        _print_endpoints(simulator)
        sys.stdout.flush()
        while not stop.wait(timeout=1.0):  # wake up regularly so signals are handled promptly
            pass
    finally:
        simulator.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("simulator stopped")
    return 0


def _print_endpoints(simulator: Simulator) -> None:
    for spec in simulator.config.specs:
        print(f"{spec.name} ({spec.role}, {spec.profile.model_name}, {spec.flavour.value})")
        for node, exporter, url in simulator.endpoints():
            if node == spec.name:
                print(f"  {exporter.value:<6} {url}")
    control = simulator.control.url()
    print(f"control API {control} (POST {control}faults, GET {control}targets)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.sim",
        description="Synthetic DGX Spark exporters with injectable faults.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
