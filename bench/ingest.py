"""Webhook ingest: ack latency and alerts/s of a real `alert-bridge serve`.

1. Closed loop, per payload size (1, 10, 100 alerts): `--clients` threads, each with its
   own HTTP session, send the next payload as soon as the last one was answered, for
   `--seconds`. Every alert is new (unique fingerprint): the expensive path.
2. Open loop at a fixed offered rate (default 50 requests/s of 10-alert payloads for
   20 s): sends are scheduled at fixed times and latency is measured from the scheduled
   time, so a slow answer cannot hide the requests queued behind it.

Each run gets a fresh bridge and a fresh database. Delivery is dry-run (no credentials),
which is still the real worker path: every outbox row is claimed and finished in the
database while the webhook is being loaded.

    .venv/bin/python bench/ingest.py [--quick] [--database-url URL] [--seconds S]

`--issue-table [--postgres-url URL]` prints instead the table of issue 15 (fast path): per
database, 10 new alerts per request (alerts/s, ack p99), the same 10-alert payloads
repeated (the dedup path) and 1 new alert per request (req/s), closed loop.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

from common import (
    UNSENT,
    Bridge,
    CpuMeter,
    PayloadFactory,
    Sample,
    add_bridge_args,
    check_database_url,
    closed_loop,
    code_line,
    machine_line,
    ms,
    open_loop,
    percentile,
    print_header,
    print_table,
    running_bridge,
    warm_up,
)

SIZES = (1, 10, 100)
# Issue 15's targets: SQLite, PostgreSQL.
TARGETS = {
    "new10": ("≥ 5000 alerts/s, p99 ≤ 20 ms", "≥ 3000 alerts/s, p99 ≤ 20 ms"),
    "repeat10": ("≥ 10000 alerts/s", "≥ 6000 alerts/s"),
    "new1": ("≥ 800 req/s", "≥ 800 req/s"),
}
REPEAT_POOL = 20  # distinct payloads cycled through by the repeat run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="per closed-loop run")
    parser.add_argument("--clients", type=int, default=4, help="closed-loop client threads")
    parser.add_argument(
        "--sizes", type=int, nargs="*", default=list(SIZES), help="none: open loop only"
    )
    parser.add_argument("--max-requests", type=int, default=100_000, help="per closed-loop run")
    parser.add_argument("--rate", type=float, default=50.0, help="open loop: requests/s")
    parser.add_argument("--rate-size", type=int, default=10, help="open loop: alerts/payload")
    parser.add_argument("--rate-seconds", type=float, default=20.0, help="open loop duration")
    parser.add_argument("--rate-threads", type=int, default=8, help="open loop: sender threads")
    parser.add_argument(
        "--rate-runs", type=int, default=1, help="open loop: repeat (fresh bridge each time)"
    )
    parser.add_argument("--severity", default="critical", help="critical: PagerDuty + Slack")
    parser.add_argument(
        "--repeats", action="store_true", help="also measure repeated (duplicate) alerts"
    )
    parser.add_argument(
        "--issue-table",
        action="store_true",
        help="issue 15's table: 10 new, 10 repeated, 1 new per request; SQLite and PostgreSQL",
    )
    parser.add_argument(
        "--postgres-url",
        type=check_database_url,
        help="--issue-table: the PostgreSQL column's database (its schema public is DROPPED)",
    )
    add_bridge_args(parser)
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 2.0)
        args.rate_seconds = min(args.rate_seconds, 4.0)
    return args


def _latencies(samples: list[Sample]) -> tuple[list[float], int]:
    ok = [s.latency for s in samples if s.status == 200]
    return ok, len(samples) - len(ok)


def _pending(bridge: Bridge) -> int:
    depth = bridge.outbox_depth()
    return depth.get("pending", 0) + depth.get("in_flight", 0)


def closed_loop_row(
    args: argparse.Namespace, size: int, repeats: bool, database_url: str | None = None
) -> list[object]:
    url = database_url or args.database_url
    with running_bridge(database_url=url, log_level=args.log_level) as bridge:
        return measure_closed_loop(bridge, args, size, repeats)


def measure_closed_loop(
    bridge: Bridge, args: argparse.Namespace, size: int, repeats: bool
) -> list[object]:
    """One closed-loop row against a running bridge (bench/history.py reuses it on a
    bridge whose database holds a fleet's history)."""
    factory = PayloadFactory(size, severity=args.severity)
    body: Callable[[int], bytes] = factory.body
    if repeats:
        warm_up(bridge.webhook_url, factory.body, REPEAT_POOL)
        body = lambda n: factory.body(n % REPEAT_POOL)  # noqa: E731 - the same 20 payloads

    with CpuMeter(bridge) as cpu:
        samples, elapsed = closed_loop(
            bridge.webhook_url,
            body,
            clients=args.clients,
            seconds=args.seconds,
            max_requests=args.max_requests,
        )
    pending = _pending(bridge)
    latencies, errors = _latencies(samples)
    rate = len(latencies) * size / elapsed if elapsed > 0 else math.nan
    return [
        f"{size} (repeats)" if repeats else size,
        len(samples),
        f"{rate:.0f}",
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 99)),
        ms(max(latencies, default=math.nan)),
        errors,
        cpu.percent(cpu.bridge_s),
        cpu.percent(cpu.client_s),
        pending,
    ]


def fixed_rate_row(args: argparse.Namespace) -> list[object]:
    count = max(1, round(args.rate * args.rate_seconds))
    with running_bridge(database_url=args.database_url, log_level=args.log_level) as bridge:
        warm_up(bridge.webhook_url, PayloadFactory(args.rate_size, tag="warmup").body, 20)
        factory = PayloadFactory(args.rate_size, severity=args.severity)
        bodies = [factory.body(n) for n in range(count)]
        with CpuMeter(bridge) as cpu:
            samples = open_loop(
                bridge.webhook_url, bodies, rate=args.rate, threads=args.rate_threads
            )
        pending = _pending(bridge)
    sent = [s for s in samples if s.status != UNSENT]
    latencies, errors = _latencies(sent)
    span = max(s.done for s in sent) - samples[0].due
    lag = [s.sent - s.due for s in sent]
    return [
        f"{args.rate:g}",
        args.rate_size,
        len(sent),
        len(samples) - len(sent),
        f"{len(latencies) / span:.1f}",
        ms(percentile(latencies, 50)),
        ms(percentile(latencies, 99)),
        ms(max(latencies, default=math.nan)),
        errors,
        ms(percentile(lag, 99)),
        cpu.percent(cpu.bridge_s),
        pending,
    ]


def issue_table(args: argparse.Namespace) -> int:
    """Issue 15's table: one column per database, closed loop, every row a fresh bridge."""
    databases: list[tuple[str, str | None]] = [("SQLite", None)]
    if args.postgres_url:
        databases.append(("PostgreSQL", args.postgres_url))
    loads = [
        ("new10", "10 new alerts per request", 10, False),
        ("repeat10", "the same payload repeated (dedup path)", 10, True),
        ("new1", "1 alert per request", 1, False),
    ]
    print(code_line())
    print(
        f"closed loop: {args.clients} clients (keep-alive), {args.seconds:g} s per cell, "
        f"severity={args.severity}, dry-run delivery, default settings; repeats cycle "
        f"{REPEAT_POOL} already-sent 10-alert payloads"
    )
    cells: dict[tuple[str, str], str] = {}
    for db_name, url in databases:
        for key, _label, size, repeats in loads:
            load_before = machine_line()
            row = closed_loop_row(args, size, repeats, database_url=url)
            alerts_s, p99, errors = row[2], row[4], row[6]
            # One alert per request: alerts/s is requests/s.
            head = f"{alerts_s} req/s" if size == 1 else f"{alerts_s} alerts/s"
            cells[key, db_name] = f"{head}, ack p99 {p99} ms" + (
                f", {errors} errors" if errors else ""
            )
            print(
                f"  {db_name}, {key}: {cells[key, db_name]}; bridge CPU {row[7]}, "
                f"client CPU {row[8]}, outbox left {row[9]}  [{load_before}]",
                flush=True,
            )
    print()
    headers = ["load"] + [f"bridge, {name}" for name, _ in databases]
    headers.append("target, SQLite (PostgreSQL)")
    rows = [
        [label]
        + [cells[key, name] for name, _ in databases]
        + [f"{TARGETS[key][0]} ({TARGETS[key][1]})"]
        for key, label, _size, _rep in loads
    ]
    print_table(headers, rows)
    print(machine_line())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.issue_table:
        return issue_table(args)
    print_header(args.database_url)
    print(
        f"delivery: dry-run (no PagerDuty/Slack credentials); severity={args.severity} alerts, "
        "each new alert queues its outbox rows, which the bridge's own worker claims and "
        "finishes while the load runs"
    )
    print("each row: a fresh bridge and database; ack = POST until HTTP answer")
    print()
    rows = []
    for size in args.sizes:
        rows.append(closed_loop_row(args, size, repeats=False))
        if args.repeats:
            rows.append(closed_loop_row(args, size, repeats=True))
    if rows:
        print(
            f"closed loop: {args.clients} clients, {args.seconds:g} s per row, every alert new"
            + (f"; repeats cycle {REPEAT_POOL} already-sent payloads" if args.repeats else "")
        )
        print_table(
            [
                "payload size",
                "requests",
                "alerts/s",
                "ack p50 ms",
                "ack p99 ms",
                "ack max ms",
                "errors",
                "bridge CPU",
                "client CPU",
                "outbox left",
            ],
            rows,
        )
        print()
    print(
        f"open loop: {args.rate:g} requests/s of {args.rate_size}-alert payloads for "
        f"{args.rate_seconds:g} s, {args.rate_threads} sender threads; "
        "latency from the scheduled send time"
    )
    print_table(
        [
            "offered req/s",
            "payload size",
            "requests",
            "unsent",
            "achieved req/s",
            "ack p50 ms",
            "ack p99 ms",
            "ack max ms",
            "errors",
            "send lag p99 ms",
            "bridge CPU",
            "outbox left",
        ],
        [fixed_rate_row(args) for _ in range(args.rate_runs)],
    )
    print()
    print(
        "bridge CPU / client CPU: share of one CPU used by the bridge process / this process."
        " outbox left: deliveries still pending or in flight when the run ended. unsent:"
        " open-loop requests given up because the bridge fell too far behind."
    )
    print(
        "issue targets, for reference: ≥ 2000 alerts/s ingested on SQLite; "
        "ack p99 ≤ 25 ms at 50 req/s of 10-alert payloads"
    )
    print(machine_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
