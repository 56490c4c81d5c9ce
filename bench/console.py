"""How fast the web console's pages render with a busy database.

A real `alert-bridge serve` gets a database holding `--firing` firing alerts (default
1,000) spread over `--nodes` nodes (default 20), plus resolved history, for `--deliveries`
outbox rows in all (default 10,000; some dead) with one attempt each. Then each page is
fetched `--requests` times in a row (default 50, after 3 unmeasured warm-ups) over
keep-alive HTTP from this process, and the time from request to the last byte is printed:
p50, p95 and max per page. Prometheus and Alertmanager point at a closed local port; their
probes on the overview are cached for 10 s, so the figures are the page's own work.

    .venv/bin/python bench/console.py [--firing 1000] [--deliveries 10000] [--requests 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from common import (
    REQUEST_TIMEOUT_S,
    add_bridge_args,
    ms,
    percentile,
    print_header,
    print_table,
    running_bridge,
)
from sqlalchemy import Engine, insert, select

from bridge.db.engine import make_engine
from bridge.db.models import ALERTS, ATTEMPTS, DELIVERIES, TRANSITIONS

SEVERITIES = ("critical", "warning", "warning", "info")
ALERT_NAMES = ("GPUTemperatureCritical", "GPUMemoryHigh", "HighCPUUsage", "GPUXIDError")
CLOSED_PORT = "http://127.0.0.1:1"
WARM_UPS = 3
DEAD_EVERY = 50  # one delivery in this many is a dead letter


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--firing", type=int, default=1000, help="firing alerts")
    parser.add_argument("--deliveries", type=int, default=10_000, help="outbox rows in all")
    parser.add_argument("--nodes", type=int, default=20, help="nodes the alerts are on")
    parser.add_argument("--requests", type=int, default=50, help="measured requests per page")
    add_bridge_args(parser)
    return parser.parse_args(argv)


def _alert(i: int, status: str, nodes: int, now: datetime) -> dict[str, Any]:
    node = f"dgx-spark-{i % nodes + 1:02d}"
    name = ALERT_NAMES[i % len(ALERT_NAMES)]
    starts = now - timedelta(minutes=i % 600 + 1)
    return {
        "fingerprint": f"bench-{status}-{i}",
        "alertname": name,
        "severity": SEVERITIES[i % len(SEVERITIES)],
        "node": node,
        "status": status,
        "starts_at": starts,
        "ends_at": None if status == "firing" else starts + timedelta(minutes=5),
        "labels": {"alertname": name, "node": node, "gpu": str(i % 4), "instance": node},
        "annotations": {"summary": f"{name} on {node}", "value": "87 °C", "threshold": "85 °C"},
        "generator_url": "",
        "channels": ["pagerduty", "slack"],
        "notified": True,
        "first_seen_at": starts,
        "last_seen_at": now,
        "last_change_at": starts if status == "firing" else starts + timedelta(minutes=5),
        "received_count": 3,
        "duplicate_count": 2,
    }


def fill(engine: Engine, firing: int, deliveries: int, nodes: int) -> dict[str, int]:
    """Firing alerts first, then resolved ones until every delivery has an alert (2 each)."""
    now = datetime.now(UTC)
    alerts_needed = max(firing, (deliveries + 1) // 2)
    rows = [
        _alert(i, "firing" if i < firing else "resolved", nodes, now) for i in range(alerts_needed)
    ]
    with engine.begin() as conn:
        conn.execute(insert(ALERTS), rows)
        ids = list(conn.execute(select(ALERTS.c.id, ALERTS.c.starts_at).order_by(ALERTS.c.id)))
        conn.execute(
            insert(TRANSITIONS),
            [
                {
                    "alert_id": a.id,
                    "fingerprint": r["fingerprint"],
                    "alertname": r["alertname"],
                    "node": r["node"],
                    "severity": r["severity"],
                    "status": "firing",
                    "reason": "new_firing",
                    "starts_at": a.starts_at,
                    "at": a.starts_at,
                }
                for a, r in zip(ids, rows, strict=True)
            ],
        )
        outbox = []
        for n in range(deliveries):
            alert_id, starts = ids[n // 2]
            dead = n % DEAD_EVERY == 0
            outbox.append(
                {
                    "alert_id": alert_id,
                    "channel": "pagerduty" if n % 2 == 0 else "slack",
                    "action": "trigger",
                    "status": "dead" if dead else "delivered",
                    "starts_at": starts,
                    "snapshot": {},
                    "context": {"_key": "87 °C, trend +1.2 °C/min", "GPU temperature": "87 °C"},
                    "attempts": 1,
                    "next_attempt_at": starts,
                    "created_at": starts,
                    "finished_at": starts + timedelta(seconds=1),
                    "last_error": "rejected: HTTP 400" if dead else None,
                }
            )
        conn.execute(insert(DELIVERIES), outbox)
        delivery_ids = list(conn.execute(select(DELIVERIES.c.id)).scalars())
        conn.execute(
            insert(ATTEMPTS),
            [
                {
                    "delivery_id": d,
                    "started_at": now,
                    "duration_ms": 40,
                    "outcome": "delivered",
                    "http_status": 202,
                    "detail": "accepted",
                }
                for d in delivery_ids
            ],
        )
    return {"alerts": len(rows), "deliveries": len(delivery_ids)}


def measure(url: str, count: int) -> list[float]:
    session = requests.Session()
    for _ in range(WARM_UPS):
        session.get(url, timeout=REQUEST_TIMEOUT_S).raise_for_status()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = session.get(url, timeout=REQUEST_TIMEOUT_S)
        response.raise_for_status()
        _ = response.content
        times.append(time.perf_counter() - started)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print_header(args.database_url)
    env = {"BRIDGE_PROMETHEUS_URL": CLOSED_PORT, "BRIDGE_ALERTMANAGER_URL": CLOSED_PORT}
    with running_bridge(database_url=args.database_url, env=env, log_level="WARNING") as bridge:
        engine = make_engine(bridge.database_url)
        counts = fill(engine, args.firing, args.deliveries, args.nodes)
        engine.dispose()
        print(
            f"database: {args.firing} firing alerts on {args.nodes} nodes, "
            f"{counts['alerts']} alerts in all, {counts['deliveries']} deliveries"
        )
        pages = {
            "overview /": "/",
            "one node /?node=…": "/?node=dgx-spark-01",
            "deliveries (newest 200)": "/deliveries",
            "dead letters": "/deliveries?status=dead",
            "alert page": "/alert/bench-firing-0",
        }
        rows = []
        for name, path in pages.items():
            times = measure(bridge.url + path, args.requests)
            rows.append(
                [
                    name,
                    len(times),
                    ms(percentile(times, 50)),
                    ms(percentile(times, 95)),
                    ms(max(times)),
                ]
            )
        print_table(["page", "requests", "p50 ms", "p95 ms", "max ms"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
