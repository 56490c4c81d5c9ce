"""Alert-to-page latency: webhook POST to the PagerDuty replica accepting the event.

The PagerDuty Events API v2 replica (tests/fakes/pagerduty.py, HTTPS with a throwaway
CA) runs in this process, so its `received_at` (time.monotonic()) and the send times
taken here are on one clock. A real `alert-bridge serve` gets a 32-character routing key,
the replica's URL and the CA bundle; Slack stays dry-run; enrichment is off
(BRIDGE_CONFIG).

`--count` single critical alerts, each a new alert, are sent on a fixed schedule
(`--interval` apart, open loop). Latency per alert: from just before its POST to the
replica recording its trigger event.

    .venv/bin/python bench/alert_to_page.py [--count 300] [--interval 0.02]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from common import (
    UNSENT,
    CpuMeter,
    PayloadFactory,
    add_bridge_args,
    latency_table,
    machine_line,
    ms,
    open_loop,
    percentile,
    print_header,
    print_table,
    running_bridge,
    warm_up,
)

# A well-formed Events API v2 integration key (32 alphanumerics); the replica accepts any.
ROUTING_KEY = "benchbenchbenchbenchbenchbench00"
DELIVERY_TIMEOUT_S = 120.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="alerts to send")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between sends")
    parser.add_argument("--threads", type=int, default=4, help="sender threads")
    add_bridge_args(parser)
    parser.add_argument("--quick", action="store_true", help="50 alerts (smoke test)")
    args = parser.parse_args(argv)
    if args.quick:
        args.count = min(args.count, 50)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Imported here: `common` puts the repository root on sys.path first.
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.tls import TestCA

    print_header(args.database_url)
    print(
        "PagerDuty: HTTPS replica in the benchmark process, pacing off; Slack: dry-run; "
        "enrichment: none; severity=critical (PagerDuty + Slack outbox rows per alert)"
    )
    factory = PayloadFactory(1, severity="critical", tag="a2p")
    ca = TestCA()
    fake = FakePagerDuty(ca)
    try:
        fake.start()
        # Without enrichment: bench/enrich_latency.py measures the path with it.
        config = ca.directory / "bridge.yml"
        config.write_text("enrichment:\n  enabled: false\n")
        env = {
            "BRIDGE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "BRIDGE_PAGERDUTY_EVENTS_URL": fake.url,
            "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
            "BRIDGE_CONFIG": str(config),
            # This measures the path's latency; pacing (100 pages a minute by default)
            # would hold back this run's 300 pages by design. bench/storm.py measures it.
            "BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE": "0",
            # Every alert pages on its own: with folding on, this run's alerts (one name,
            # 50 a second) become one storm incident after the first 10 (bench/storm.py).
            "BRIDGE_STORM_FOLD": "off",
        }
        with running_bridge(
            database_url=args.database_url, env=env, log_level=args.log_level
        ) as bridge:
            # Warm up (imports, pools, the TLS connection to the replica), then forget it.
            warm = PayloadFactory(1, severity="critical", tag="a2p-warmup")
            warm_up(bridge.webhook_url, warm.body, 5)
            fake.wait_for(lambda: len(fake.events) >= 5, timeout=30, what="warm-up events")
            fake.reset()

            bodies = [factory.body(n) for n in range(args.count)]
            with CpuMeter(bridge) as cpu:
                samples = open_loop(
                    bridge.webhook_url, bodies, rate=1.0 / args.interval, threads=args.threads
                )
                try:
                    fake.wait_for(
                        lambda: len(fake.events) >= args.count,
                        timeout=DELIVERY_TIMEOUT_S,
                        what=f"{args.count} events",
                    )
                except AssertionError as exc:  # report what did arrive
                    print(f"warning: {exc}", file=sys.stderr)
            events = fake.triggers()
    finally:
        fake.stop()
        ca.cleanup()

    seq_of = re.compile(re.escape(factory.run) + r"-(\d{8})-000$")
    received: dict[int, float] = {}
    for event in events:
        match = seq_of.search(str(event.get("dedup_key", "")))
        if match:
            received.setdefault(int(match[1]), event["received_at"])
    sent = [s for s in samples if s.status != UNSENT]
    acked = [s for s in sent if s.status == 200]
    page = [received[s.seq] - s.sent for s in sent if s.seq in received]
    ack = [s.done - s.sent for s in acked]
    lag = [s.sent - s.due for s in sent]

    print(
        f"{args.count} alerts, one per {args.interval * 1000:g} ms ({1 / args.interval:g}/s), "
        f"{args.threads} sender threads; latency from the POST being sent"
    )
    latency_table([("send → PagerDuty replica", page), ("send → webhook ack", ack)])
    print()
    print_table(
        ["sent", "acked 200", "delivered", "duplicates", "send lag p99 ms", "bridge CPU"],
        [
            [
                len(sent),
                len(acked),
                len(received),
                len(events) - len(received),
                ms(percentile(lag, 99)),
                cpu.percent(cpu.bridge_s),
            ]
        ],
    )
    print()
    print(
        "delivered: distinct alerts of this run the replica accepted a trigger for "
        "(must equal sent). bridge CPU: share of one CPU over the run."
    )
    print("issue target, for reference: alert-to-page p99 ≤ 100 ms (no enrichment)")
    print(machine_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
