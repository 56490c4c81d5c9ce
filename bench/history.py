"""History mode (issue 23): the same loads on an empty database and on a fleet's history.

Every other bench starts from an empty database, so a statement that reads the whole of
`alerts` or the outbox looks free there. Here each database (SQLite; PostgreSQL with
`--postgres-url`) is measured twice, each time with a fresh bridge:

- empty: as every other bench;
- seeded: right after the bridge started, 30 days of a 300-node fleet are inserted
  with bulk SQL (tests/support/history.py: 100,000 alerts, their transitions, 1,000,000
  deliveries and as many attempts, maintenance windows, storms; 1,000 alerts still
  firing), then PostgreSQL's tables are analysed, as autovacuum would.

Then, on the same bridge, in this order: the console overview (`GET /`, p95 of
`--console-requests`); the closed loops of bench/ingest.py (`--seconds` each: 10 new
alerts per request, the same 10-alert payloads repeated, 1 new alert per request); a
retention purge of the oldest day (`purge_old`, the job's own code, from this process as
another replica's job would) while webhooks arrive at `--purge-rate` requests/s, with the
slowest webhook answer during the purge; the resident memory of the web and delivery
processes. The table compares seeded with empty; the header names the commit and the
load average (the machine is shared: read the figures with it).

    .venv/bin/python bench/history.py [--postgres-url URL] [--seconds 6] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from common import (
    REQUEST_TIMEOUT_S,
    Bridge,
    PayloadFactory,
    check_database_url,
    code_line,
    machine_line,
    ms,
    open_loop,
    percentile,
    print_table,
    running_bridge,
    warm_up,
)
from ingest import measure_closed_loop

from bridge.db.engine import make_engine
from bridge.store.scheduled import purge_old
from tests.support.history import Fleet, seed_history

LOADS = (
    ("new10", "10 new alerts per request", 10, False),
    ("repeat10", "the same payload repeated", 10, True),
    ("new1", "1 alert per request", 1, False),
)
CLOSED_PORT = "http://127.0.0.1:1"
CONSOLE_WARM_UPS = 3


@dataclass
class Cell:
    """What one bridge (one database, empty or seeded) measured."""

    seeded: dict[str, int] = field(default_factory=dict)
    seed_seconds: float = 0.0
    loads: dict[str, list[object]] = field(default_factory=dict)
    console: list[float] = field(default_factory=list)
    purge: dict[str, float] = field(default_factory=dict)
    rss_kib: dict[str, int] = field(default_factory=dict)
    load_avg: list[str] = field(default_factory=list)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=None, help="its schema public is DROPPED")
    parser.add_argument("--seconds", type=float, default=6.0, help="per closed loop")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--severity", default="critical")
    parser.add_argument("--console-requests", type=int, default=40)
    parser.add_argument("--purge-rate", type=float, default=40.0, help="webhooks/s in the purge")
    parser.add_argument("--purge-window", type=float, default=10.0, help="seconds of webhooks")
    parser.add_argument("--alerts", type=int, default=Fleet.alerts)
    parser.add_argument("--deliveries-per-alert", type=int, default=Fleet.deliveries_per_alert)
    parser.add_argument("--nodes", type=int, default=Fleet.nodes)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--quick", action="store_true", help="a small fleet, 2 s loads")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    args.postgres_url = check_database_url(args.postgres_url)
    if args.quick:
        args.seconds, args.alerts, args.console_requests, args.purge_window = 2.0, 5_000, 10, 4.0
    return args


def fleet_of(args: argparse.Namespace) -> Fleet:
    return Fleet(
        nodes=args.nodes,
        alerts=args.alerts,
        deliveries_per_alert=args.deliveries_per_alert,
        firing=min(1_000, args.alerts // 10),
    )


def console_times(bridge: Bridge, count: int) -> list[float]:
    session = requests.Session()
    for _ in range(CONSOLE_WARM_UPS):
        session.get(bridge.url + "/", timeout=REQUEST_TIMEOUT_S).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(bridge.url + "/", timeout=REQUEST_TIMEOUT_S)
        response.raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def purge_under_load(bridge: Bridge, args: argparse.Namespace, fleet: Fleet) -> dict[str, float]:
    """Purge the oldest day of history while webhooks arrive on a fixed schedule."""
    engine = make_engine(bridge.database_url)
    cutoff = datetime.now(UTC) - timedelta(days=fleet.days - 1)
    factory = PayloadFactory(10, severity=args.severity, tag="purge")
    warm_up(bridge.webhook_url, PayloadFactory(10, tag="purge-warmup").body, 5)
    count = max(1, round(args.purge_rate * args.purge_window))
    bodies = [factory.body(n) for n in range(count)]
    span: dict[str, float] = {}
    purged: dict[str, int] = {}

    def purge() -> None:
        time.sleep(1.0)  # webhooks first, so the purge starts among them
        span["start"] = time.monotonic()
        purged.update(purge_old(engine, cutoff))
        span["end"] = time.monotonic()

    purger = threading.Thread(target=purge, name="purge", daemon=True)
    purger.start()
    samples = open_loop(bridge.webhook_url, bodies, rate=args.purge_rate, threads=8)
    purger.join(600)
    engine.dispose()
    answered = [s for s in samples if s.status == 200]
    start, end = span.get("start", math.nan), span.get("end", math.nan)
    during = [s.latency for s in answered if s.done >= start and s.sent <= end]
    return {
        "rows": float(sum(purged.values())),
        "deliveries": float(purged.get("deliveries", 0)),
        "seconds": end - start,
        "during": float(len(during)),
        "max_during": max(during, default=math.nan),
        "max_all": max((s.latency for s in answered), default=math.nan),
        "errors": float(len(samples) - len(answered)),
        "outlasted": float(end > max((s.done for s in samples), default=0.0)),
    }


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def _status_kib(pid: int, key: str) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss(bridge: Bridge) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of the web process and of its delivery child."""
    children: list[int] = []
    for path in Path(f"/proc/{bridge.pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            children += [int(c) for c in path.read_text().split()]
    delivery = [c for c in children if "resource_tracker" not in _cmdline(c)]
    out = {"web": _status_kib(bridge.pid, "VmRSS"), "web_peak": _status_kib(bridge.pid, "VmHWM")}
    if delivery:
        out["delivery"] = _status_kib(delivery[0], "VmRSS")
        out["delivery_peak"] = _status_kib(delivery[0], "VmHWM")
    return out


def measure(args: argparse.Namespace, url: str | None, seeded: bool) -> Cell:
    cell = Cell(load_avg=[machine_line()])
    fleet = fleet_of(args)
    env = {"BRIDGE_PROMETHEUS_URL": CLOSED_PORT, "BRIDGE_ALERTMANAGER_URL": CLOSED_PORT}
    with running_bridge(database_url=url, env=env, log_level=args.log_level) as bridge:
        if seeded:
            engine = make_engine(bridge.database_url)
            started = time.monotonic()
            cell.seeded = seed_history(engine, fleet, datetime.now(UTC))
            cell.seed_seconds = time.monotonic() - started
            engine.dispose()
        cell.console = console_times(bridge, args.console_requests)
        for key, _label, size, repeats in LOADS:
            cell.loads[key] = measure_closed_loop(bridge, args, size, repeats)
        cell.purge = purge_under_load(bridge, args, fleet)
        cell.rss_kib = rss(bridge)
    cell.load_avg.append(machine_line())
    return cell


def _rate(row: list[object]) -> float:
    return float(str(row[2]))


def _mib(kib: dict[str, int], process: str) -> str:
    return f"{kib.get(process, 0) / 1024:.0f} ({kib.get(process + '_peak', 0) / 1024:.0f})"


def _ratio(seeded: float, empty: float) -> str:
    return f"{seeded / empty:.2f}×" if empty and not math.isnan(seeded / empty) else "—"


def table(args: argparse.Namespace, cells: dict[tuple[str, bool], Cell]) -> None:
    databases = sorted({db for db, _ in cells}, key=lambda d: d != "SQLite")
    headers = ["measure"]
    for db in databases:
        headers += [f"{db} empty", f"{db} seeded", "seeded/empty"]
    headers.append("target")
    rows: list[list[object]] = []
    for key, label, size, _repeats in LOADS:
        unit = "req/s" if size == 1 else "alerts/s"
        row: list[object] = [f"{label} ({unit}; ack p99 ms)"]
        for db in databases:
            before, after = cells[db, False].loads[key], cells[db, True].loads[key]
            row += [
                f"{before[2]}; {before[4]}",
                f"{after[2]}; {after[4]}",
                _ratio(_rate(after), _rate(before)),
            ]
        rows.append([*row, "≥ 0.90× of empty"])
    row = ["console overview p95 ms"]
    for db in databases:
        empty_c, seeded_c = cells[db, False].console, cells[db, True].console
        row += [ms(percentile(empty_c, 95)), ms(percentile(seeded_c, 95)), ""]
    rows.append([*row, "≤ 100 ms"])
    row = ["slowest webhook during the purge ms (rows purged, s)"]
    for db in databases:
        for with_history in (False, True):
            p = cells[db, with_history].purge
            row.append(f"{ms(p['max_during'])} ({p['rows']:.0f}, {p['seconds']:.1f} s)")
        row.append("")
    rows.append([*row, "≤ 100 ms"])
    for process in ("web", "delivery"):
        row = [f"{process} process RSS MiB (peak)"]
        for db in databases:
            empty_r, seeded_r = cells[db, False].rss_kib, cells[db, True].rss_kib
            row += [
                _mib(empty_r, process),
                _mib(seeded_r, process),
                _ratio(seeded_r.get(process, 0), empty_r.get(process, 0)),
            ]
        rows.append([*row, "≤ 1.20× of empty"])
    print_table(headers, rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    fleet = fleet_of(args)
    print(code_line())
    print(
        f"history: {fleet.days} days of {fleet.nodes} nodes, {fleet.alerts} alerts "
        f"({fleet.firing} firing), {fleet.deliveries} deliveries and attempts; closed loops "
        f"{args.clients} clients, {args.seconds:g} s each; purge: the oldest day, webhooks at "
        f"{args.purge_rate:g}/s (10 alerts each); dry-run delivery"
    )
    databases: list[tuple[str, str | None]] = []
    if args.only != "postgresql":
        databases.append(("SQLite", None))
    if args.postgres_url and args.only != "sqlite":
        databases.append(("PostgreSQL", args.postgres_url))
    cells: dict[tuple[str, bool], Cell] = {}
    for db, url in databases:
        for seeded in (False, True):
            cell = measure(args, url, seeded)
            cells[db, seeded] = cell
            what = "seeded" if seeded else "empty"
            if seeded:
                print(f"  {db} {what}: seeded in {cell.seed_seconds:.1f} s: {cell.seeded}")
            print(
                f"  {db} {what}: "
                + "; ".join(f"{k} {v[2]} p99 {v[4]}" for k, v in cell.loads.items())
                + f"; console p95 {ms(percentile(cell.console, 95))} ms; purge "
                f"{cell.purge['rows']:.0f} rows in {cell.purge['seconds']:.1f} s, "
                f"{cell.purge['during']:.0f} webhooks during it, slowest "
                f"{ms(cell.purge['max_during'])} ms (whole window {ms(cell.purge['max_all'])} ms"
                f"{', purge outlasted the webhooks' if cell.purge['outlasted'] else ''}); "
                f"RSS KiB {cell.rss_kib}  [{cell.load_avg[0]} → {cell.load_avg[1]}]",
                flush=True,
            )
    print()
    table(args, cells)
    print(machine_line(), f"(cpus: {os.cpu_count()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
