"""Enrichment latency per alert family, and alert-to-page latency with enrichment.

A real Prometheus (2.42, from the Debian package) serves the known data of
tests/integration/test_enrich_prometheus.py, backfilled with promtool; nothing is faked
but PagerDuty (the HTTPS replica of tests/fakes, in this process).

1. Enrichment alone: `--rounds` enrichments of each alert below, one after another, with the
   cache off so every one sends all its queries (the PagerDuty delivery's case; the Slack
   delivery of the same alert moments later is served from the cache: the "cached" column).
2. Alert to page: a real `alert-bridge serve` with BRIDGE_PROMETHEUS_URL at that Prometheus,
   `--count` new critical alerts cycling through the families, one per `--interval`; latency
   from the webhook POST to the PagerDuty replica accepting the trigger, plus the enrichment
   time each delivery stored (`_elapsed_ms`). Run twice: with a cache short enough that only
   the PagerDuty and Slack deliveries of one alert share answers (as in production, where
   alerts about the same GPU rarely follow each other within seconds; the known data has one
   label set per family), and with the cache off (each delivery queries for itself).

    .venv/bin/python bench/enrich_latency.py [--rounds 100] [--count 120] [--interval 0.25]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from common import (
    UNSENT,
    code_line,
    machine_line,
    ms,
    open_loop,
    percentile,
    print_table,
    running_bridge,
)

ROUTING_KEY = "benchbenchbenchbenchbenchbench00"
DELIVERY_TIMEOUT_S = 120.0
TARGET_P99_MS = 300.0

# One alert per family, with labels that match the known data.
ALERTS: list[tuple[str, dict[str, str]]] = [
    (
        "gpu_temperature",
        {"alertname": "GPUTemperatureCritical", "node": "dgx-spark-01", "gpu": "0"},
    ),
    ("gpu_memory", {"alertname": "GPUMemoryExhausted", "node": "dgx-spark-01", "gpu": "0"}),
    ("xid", {"alertname": "GPUXIDError", "node": "dgx-spark-01", "gpu": "0", "xid": "79"}),
    ("node_down", {"alertname": "DGXSparkNodeDown", "node": "dgx-spark-03"}),
    ("node_resources", {"alertname": "HighCPUUsage", "node": "dgx-spark-01"}),
]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100, help="enrichments per alert")
    parser.add_argument("--count", type=int, default=120, help="alerts sent to the bridge")
    parser.add_argument("--interval", type=float, default=0.25, help="seconds between alerts")
    parser.add_argument("--budget", default="2s", help="BRIDGE_ENRICH_BUDGET")
    parser.add_argument("--quick", action="store_true", help="20 rounds, 30 alerts")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.count = min(args.rounds, 20), min(args.count, 30)
    return args


def quantiles(values: Sequence[float]) -> list[str]:
    return [
        ms(percentile(values, 50)),
        ms(percentile(values, 90)),
        ms(percentile(values, 99)),
        ms(max(values, default=math.nan)),
    ]


def enrichment_alone(url: str, end: float, rounds: int, budget: float) -> None:
    from bridge.enrich.config import parse_enrichment
    from bridge.enrich.plan import plan_for
    from bridge.enrich.prometheus import PrometheusClient
    from bridge.enrich.service import Enricher

    at = datetime.fromtimestamp(end + 1, UTC)  # the known data's last sample: full context
    cold = Enricher(
        PrometheusClient(url),
        parse_enrichment({"cache_ttl": "0s"}),
        budget=budget,
        clock=lambda: at,
    )
    warm = Enricher(PrometheusClient(url), parse_enrichment(None), budget=budget, clock=lambda: at)
    rows = []
    for family, labels in ALERTS:
        plan = plan_for(labels, {}, cold.config)
        requests_per_alert = len(plan.queries) + (plan.chart is not None)
        for _ in range(3):  # connections, Prometheus's own caches
            cold.enrich_alert(labels, {})
        cold_s, missing = [], 0
        for _ in range(rounds):
            started = time.perf_counter()
            context = cold.enrich_alert(labels, {})
            cold_s.append(time.perf_counter() - started)
            missing += len(context["_missing"])
        warm_s = []
        for _ in range(rounds):
            warm.runner.clear_cache()  # a fresh alert each round
            warm.enrich_alert(labels, {})  # the PagerDuty delivery fills the cache …
            started = time.perf_counter()
            warm.enrich_alert(labels, {})  # … and the Slack delivery reads it
            warm_s.append(time.perf_counter() - started)
        rows.append(
            [
                f"{family} ({labels['alertname']})",
                requests_per_alert,
                *quantiles(cold_s),
                ms(percentile(warm_s, 50)),
                missing,
            ]
        )
    print(f"1. enrichment alone: {rounds} per alert, one at a time, cache off; budget {budget:g}s")
    print_table(
        [
            "alert family",
            "queries",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "cached p50 ms",
            "missing",
        ],
        rows,
    )
    print("queries: instant queries + the chart's range query, sent in parallel.")
    print(f"target: enrichment p99 ≤ {TARGET_P99_MS:g} ms per alert.")


def alert_body(run: str, seq: int) -> bytes:
    from tests.support.payloads import alert, payload

    _family, labels = ALERTS[seq % len(ALERTS)]
    extra = {k: v for k, v in labels.items() if k not in ("alertname", "node", "gpu")}
    body = alert(
        labels["alertname"],
        node=labels["node"],
        gpu=labels.get("gpu"),
        fingerprint=f"{run}-{seq:08d}",
        annotations={"summary": f"{labels['alertname']} on {labels['node']}"},
        **extra,
    )
    return json.dumps(payload(body)).encode()


RESERVED_DETAILS = {"firing since", "labels", "annotations", "missing context"}


def alert_to_page(url: str, count: int, interval: float, budget: str, *, cache: bool) -> None:
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.tls import TestCA

    run = f"enrich-{int(time.time() * 1000)}"
    ca = TestCA()
    fake = FakePagerDuty(ca)
    workdir = Path(tempfile.mkdtemp(prefix="enrich-bench-"))
    config = workdir / "bridge.yml"
    # The same family's label set comes back every len(ALERTS) * interval seconds: a TTL
    # shorter than that lets only one alert's two deliveries share. Off: none share.
    ttl = f"{max(1, int(len(ALERTS) * interval * 1000 * 0.8))}ms" if cache else "0s"
    config.write_text(f"enrichment:\n  cache_ttl: {ttl}\n", encoding="utf-8")
    try:
        fake.start()
        env = {
            "BRIDGE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "BRIDGE_PAGERDUTY_EVENTS_URL": fake.url,
            "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
            "BRIDGE_PROMETHEUS_URL": url,
            "BRIDGE_CONFIG": str(config),
            "BRIDGE_ENRICH_BUDGET": budget,
            # Pacing (100 pages a minute by default) would hold back the last of this
            # run's 120 pages by a minute by design; bench/storm.py measures pacing.
            "BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE": "0",
        }
        with running_bridge(env=env, log_level="WARNING", name="bridge-enrich") as bridge:
            warm = [alert_body(f"warm-{run}", n) for n in range(len(ALERTS))]
            open_loop(bridge.webhook_url, warm, rate=5, threads=1)
            fake.wait_for(lambda: len(fake.events) >= len(warm), timeout=60, what="warm-up")
            fake.reset()
            bodies = [alert_body(run, n) for n in range(count)]
            samples = open_loop(bridge.webhook_url, bodies, rate=1.0 / interval, threads=4)
            try:
                fake.wait_for(
                    lambda: len(fake.events) >= count, timeout=DELIVERY_TIMEOUT_S, what="events"
                )
            except AssertionError as exc:
                print(f"warning: {exc}", file=sys.stderr)
            events = fake.triggers()
            # The replica has the last event a moment before the bridge records it as sent.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                depth = bridge.outbox_depth()
                if depth.get("pending", 0) + depth.get("in_flight", 0) == 0:
                    break
                time.sleep(0.05)
            listed = requests.get(f"{bridge.url}/alerts?limit=500", timeout=30).json()["alerts"]
    finally:
        fake.stop()
        ca.cleanup()

    seq_of = re.compile(re.escape(run) + r"-(\d{8})$")
    received: dict[int, float] = {}
    with_context = complete = 0
    for event in events:
        match = seq_of.search(str(event.get("dedup_key", "")))
        if match:
            received.setdefault(int(match[1]), event["received_at"])
            details = event.get("payload", {}).get("custom_details", {})
            has_lines = bool(set(details) - RESERVED_DETAILS)
            with_context += has_lines
            complete += has_lines and "missing context" not in details
    sent = [s for s in samples if s.status != UNSENT]
    page = [received[s.seq] - s.sent for s in sent if s.seq in received]
    stored: dict[str, list[float]] = {}
    for item in listed:
        for delivery in item.get("deliveries", []):
            context: dict[str, Any] = delivery.get("context") or {}
            if "_elapsed_ms" in context and str(item.get("fingerprint", "")).startswith(run):
                stored.setdefault(delivery["channel"], []).append(context["_elapsed_ms"] / 1000)

    print(
        f"2{'a' if cache else 'b'}. alert to page with enrichment: {count} critical alerts, one "
        f"per {interval * 1000:g} ms, cycling through the {len(ALERTS)} families; "
        f"cache {'per alert (' + ttl + ')' if cache else 'off'}; budget {budget}; pacing off"
    )
    rows = [["POST → PagerDuty replica", len(page), *quantiles(page)]]
    for channel, values in sorted(stored.items()):
        rows.append([f"enrichment inside the bridge ({channel})", len(values), *quantiles(values)])
    print_table(["measure", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)
    print(
        f"delivered {len(received)} of {len(sent)}; pages with context: {with_context}, "
        f"of which complete: {complete}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from bridge.durations import parse_duration
    from tests.integration.test_enrich_prometheus import Listener, start_known_prometheus

    print(code_line())
    print(machine_line())
    listener = Listener()
    workdir = Path(tempfile.mkdtemp(prefix="enrich-prometheus-"))
    known = start_known_prometheus(workdir, listener.port)
    try:
        print(f"prometheus: {known.url} (2.42, backfilled known data)")
        print()
        enrichment_alone(known.url, known.data.end, args.rounds, parse_duration(args.budget))
        print()
        alert_to_page(known.url, args.count, args.interval, args.budget, cache=True)
        print()
        alert_to_page(known.url, args.count, args.interval, args.budget, cache=False)
    finally:
        known.proc.stop()
        listener.close()
    print(machine_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
