"""Alert-to-page latency: through the bridge vs Alertmanager's own PagerDuty integration.

One real Alertmanager (0.25, Debian's `prometheus-alertmanager`, clustering off) routes
every alert, with `continue: true`, to two receivers that page the SAME PagerDuty replica
(tests/fakes/pagerduty.py, HTTPS, in this process):

- `pd-direct`: Alertmanager's own `pagerduty_configs` (routing key AM_KEY);
- `bridge`: `webhook_configs` to a real `alert-bridge serve`, which pages with its own
  routing key (BRIDGE_KEY) at the same replica. Slack stays dry-run.

Both receivers hang off one route, so they share group_by, group_wait and group_interval:
the only difference between the two paths is what happens after Alertmanager flushes a
group. `--count` new critical alerts are posted to Alertmanager's API
(`POST /api/v2/alerts`), one per `--interval`; latency per alert and path: from just
before its POST to the replica accepting the first trigger event that carries the alert
(told apart by routing key; the alert's `bench_id` label is in both paths' events).

Scenarios, each with a fresh Alertmanager, bridge and replica:

- per alert (`group_by: ['...']`, every alert its own group), for each `--group-waits`:
  bridge enrichment off; enrichment on against a real Prometheus holding known data
  (the backfilled TSDB of tests/integration/test_enrich_prometheus.py); enrichment on
  with Prometheus down (a closed port: connection refused);
- grouped (`group_by: [alertname, node]`, alerts spread over `--nodes` nodes,
  group_interval `--group-interval`), enrichment off: Alertmanager's integration keys
  its events by group (sha256 of the group key), so one incident per group; the bridge
  keys by alert.

    .venv/bin/python bench/am_vs_bridge.py [--count 100] [--interval 0.1] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml
from common import (
    REPO_ROOT,
    code_line,
    machine_line,
    ms,
    percentile,
    print_table,
    running_bridge,
)

# Two well-formed Events API v2 integration keys (32 alphanumerics), one per path.
AM_KEY = "alertmanagerdirectbenchkey000001"
BRIDGE_KEY = "bridgeviawebhookbenchkey00000002"
ALERTNAME = "GPUTemperatureCritical"
WARM_UP_ALERTS = 3
STARTUP_TIMEOUT_S = 60.0
# After the last alert was posted: how long both paths get to deliver everything.
DELIVERY_TIMEOUT_S = 60.0
REQUEST_TIMEOUT_S = 10.0
PACING_VARIABLE = "BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100, help="alerts per scenario")
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between alerts")
    parser.add_argument(
        "--group-waits",
        default="0s,1s",
        help="group_wait values for the per-alert scenarios (comma-separated)",
    )
    parser.add_argument("--nodes", type=int, default=4, help="nodes of the grouped scenario")
    parser.add_argument(
        "--group-interval", default="5s", help="group_interval of the grouped scenario"
    )
    parser.add_argument("--no-grouped", action="store_true", help="skip the grouped scenario")
    parser.add_argument(
        "--pd-events-per-minute",
        type=int,
        default=0,
        help=f"{PACING_VARIABLE} of the bridge in every scenario but the pacing one "
        "(default 0: off, as Alertmanager does not pace either)",
    )
    parser.add_argument(
        "--no-pacing-scenario",
        action="store_true",
        help="skip the scenario with the bridge's default PagerDuty pacing",
    )
    parser.add_argument(
        "--no-prometheus", action="store_true", help="skip enrichment against a real Prometheus"
    )
    parser.add_argument("--quick", action="store_true", help="30 alerts, group_wait 0s only")
    args = parser.parse_args(argv)
    if args.quick:
        args.count = min(args.count, 30)
        args.group_waits = args.group_waits.split(",")[0]
    args.group_waits = [g.strip() for g in args.group_waits.split(",") if g.strip()]
    return args


# -- Alertmanager ------------------------------------------------------------------------


def alertmanager_config(
    *,
    pd_url: str,
    ca_file: Path,
    webhook_url: str,
    group_by: list[str],
    group_wait: str,
    group_interval: str,
) -> str:
    """One route with `continue: true` to both receivers; they share its timing."""
    config: dict[str, Any] = {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": "blackhole",
            "group_by": group_by,
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "4h",
            "routes": [
                {"receiver": "pd-direct", "continue": True},
                {"receiver": "bridge", "continue": True},
            ],
        },
        "receivers": [
            {"name": "blackhole"},
            {
                "name": "pd-direct",
                "pagerduty_configs": [
                    {
                        "routing_key": AM_KEY,
                        "url": f"{pd_url}/v2/enqueue",
                        "send_resolved": True,
                        "http_config": {"tls_config": {"ca_file": str(ca_file)}},
                    }
                ],
            },
            {
                "name": "bridge",
                "webhook_configs": [{"url": webhook_url, "send_resolved": True}],
            },
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@contextlib.contextmanager
def running_alertmanager(config_text: str, workdir: Path, port: int) -> Iterator[str]:
    """A lone Alertmanager (clustering off) on 127.0.0.1:`port`; stopped on exit."""
    from tests.support.stack_procs import start_alertmanager

    config = workdir / "alertmanager.yml"
    config.write_text(config_text, encoding="utf-8")
    amtool = shutil.which("amtool")
    if amtool:
        check = subprocess.run(
            [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=30
        )
        if check.returncode != 0:
            raise SystemExit(f"amtool check-config failed:\n{check.stdout}{check.stderr}")
    proc = start_alertmanager(config, workdir, port, timeout=STARTUP_TIMEOUT_S)
    try:
        yield proc.url
        proc.check_alive()
    finally:
        proc.stop(timeout=30)


def am_alert(run: str, seq: int, node: str) -> dict[str, Any]:
    """An alert as Prometheus would post it; `bench_id` identifies it in both paths' events."""
    return {
        "labels": {
            "alertname": ALERTNAME,
            "severity": "critical",
            "node": node,
            "gpu": "0",
            "bench_id": f"{run}-{seq:05d}",
        },
        "annotations": {
            "summary": f"{ALERTNAME} on {node}",
            "description": "GPU temperature is 87 °C",
        },
        "generatorURL": "http://prometheus:9090/graph?g0.expr=DCGM_FI_DEV_GPU_TEMP",
    }


@dataclass
class Posted:
    seq: int
    sent: float  # time.monotonic() just before the POST
    status: int  # 0: no answer


def post_alerts(
    am_url: str, run: str, count: int, interval: float, nodes: list[str]
) -> list[Posted]:
    """One alert per POST, on a fixed schedule (a late POST does not shift the others)."""
    posted: list[Posted] = []
    url = f"{am_url}/api/v2/alerts"
    with requests.Session() as session:
        t0 = time.monotonic() + 0.05
        for seq in range(count):
            delay = t0 + seq * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body = [am_alert(run, seq, nodes[seq % len(nodes)])]
            sent = time.monotonic()
            try:
                status = session.post(url, json=body, timeout=REQUEST_TIMEOUT_S).status_code
            except requests.RequestException:
                status = 0
            posted.append(Posted(seq, sent, status))
    return posted


# -- matching the replica's events to alerts ---------------------------------------------


@dataclass
class PathEvents:
    """What one path (routing key) delivered, matched to this run's alerts."""

    first: dict[int, float] = field(default_factory=dict)  # seq -> first received_at
    triggers: int = 0
    dedup_keys: set[str] = field(default_factory=set)


class Matcher:
    """Incrementally matches accepted trigger events to alerts by their `bench_id`."""

    def __init__(self, run: str) -> None:
        self.pattern = re.compile(re.escape(run) + r"-(\d{5})")
        self.paths = {AM_KEY: PathEvents(), BRIDGE_KEY: PathEvents()}
        self._seen = 0

    def update(self, events: list[dict[str, Any]]) -> None:
        for event in events[self._seen :]:
            path = self.paths.get(event.get("routing_key", ""))
            if path is None or event.get("event_action") != "trigger":
                continue
            seqs = {int(m) for m in self.pattern.findall(json.dumps(event))}
            if not seqs:
                continue  # warm-up or another run
            path.triggers += 1
            path.dedup_keys.add(str(event.get("dedup_key")))
            for seq in seqs:
                path.first.setdefault(seq, event["received_at"])
        self._seen = len(events)

    def complete(self, seqs: set[int]) -> bool:
        return all(seqs <= set(p.first) for p in self.paths.values())


def wait_for_warm_up(fake: Any, run: str, count: int) -> None:
    pattern = re.compile(re.escape(run) + r"-\d{5}")

    def done() -> bool:
        by_key: dict[str, set[str]] = {AM_KEY: set(), BRIDGE_KEY: set()}
        for event in fake.events:
            if event.get("routing_key") in by_key:
                by_key[event["routing_key"]].update(pattern.findall(json.dumps(event)))
        return all(len(found) >= count for found in by_key.values())

    fake.wait_for(done, timeout=STARTUP_TIMEOUT_S, what="warm-up pages on both paths")


# -- one scenario ------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    enrichment: str  # off | on | down
    group_by: list[str]
    group_wait: str
    group_interval: str
    nodes: list[str]
    # The bridge's PagerDuty pacing (events/minute); None: its default.
    pacing: int | None = None


@dataclass
class Result:
    scenario: Scenario
    posted: list[Posted]
    am: PathEvents
    bridge: PathEvents
    post_lag_max: float

    def latencies(self, path: PathEvents) -> list[float]:
        return [path.first[p.seq] - p.sent for p in self.posted if p.seq in path.first]


def bridge_config(enrichment: str, interval: float) -> str:
    if enrichment == "off":
        return "enrichment:\n  enabled: false\n"
    # Every alert has the same node/gpu: a cache shorter than the spacing lets only the
    # PagerDuty and (dry-run) Slack deliveries of one alert share answers, as in production.
    ttl_ms = max(1, int(interval * 1000 * 0.8))
    return f"enrichment:\n  cache_ttl: {ttl_ms}ms\n"


def run_scenario(
    scenario: Scenario, *, count: int, interval: float, prometheus_url: str | None
) -> Result:
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.tls import TestCA
    from tests.support.procs import free_port

    run = f"avb{uuid.uuid4().hex[:8]}"
    warm_run = f"warm{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="am-vs-bridge-"))
    ca = TestCA()
    fake = FakePagerDuty(ca)
    try:
        fake.start()
        (workdir / "bridge.yml").write_text(
            bridge_config(scenario.enrichment, interval), encoding="utf-8"
        )
        am_port = free_port()
        env = {
            "BRIDGE_PAGERDUTY_ROUTING_KEY": BRIDGE_KEY,
            "BRIDGE_PAGERDUTY_EVENTS_URL": fake.url,
            "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
            "BRIDGE_CONFIG": str(workdir / "bridge.yml"),
            "BRIDGE_ALERTMANAGER_URL": f"http://127.0.0.1:{am_port}",
            # Enrichment off still gets a Prometheus URL on this machine that answers nothing.
            "BRIDGE_PROMETHEUS_URL": prometheus_url or f"http://127.0.0.1:{free_port()}",
            # Every alert pages on its own, as Alertmanager's integration pages it: with
            # folding on, a scenario's alerts (one name, 10 a second) become one storm
            # incident after the first 10. bench/storm.py measures folding.
            "BRIDGE_STORM_FOLD": "off",
        }
        if scenario.pacing is not None:
            env[PACING_VARIABLE] = str(scenario.pacing)
        with running_bridge(env=env, log_level="WARNING", name="bridge-avb") as bridge:
            config = alertmanager_config(
                pd_url=fake.url,
                ca_file=ca.ca_bundle,
                webhook_url=bridge.webhook_url,
                group_by=scenario.group_by,
                group_wait=scenario.group_wait,
                group_interval=scenario.group_interval,
            )
            with running_alertmanager(config, workdir, am_port) as am_url:
                # Warm up both paths (TLS, pools, imports, Prometheus), then forget it.
                # Grouped: warm-up alerts in groups of their own, so that every measured
                # group starts empty (its first alert is sent at once, later ones at ticks).
                warm_nodes = scenario.nodes if scenario.group_by == ["..."] else ["dgx-warm-up"]
                post_alerts(am_url, warm_run, WARM_UP_ALERTS, 0.2, warm_nodes)
                wait_for_warm_up(fake, warm_run, WARM_UP_ALERTS)
                fake.reset()

                posted = post_alerts(am_url, run, count, interval, scenario.nodes)
                wanted = {p.seq for p in posted if p.status == 200}
                matcher = Matcher(run)
                deadline = time.monotonic() + DELIVERY_TIMEOUT_S
                while time.monotonic() < deadline:
                    matcher.update(fake.triggers())
                    if matcher.complete(wanted):
                        break
                    time.sleep(0.2)
                else:
                    print(
                        f"warning: {scenario.name}: not every alert paged on both paths "
                        f"within {DELIVERY_TIMEOUT_S:g}s",
                        file=sys.stderr,
                    )
                matcher.update(fake.triggers())
    finally:
        fake.stop()
        ca.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
    lag = max((p.sent - (posted[0].sent + p.seq * interval) for p in posted), default=math.nan)
    return Result(scenario, posted, matcher.paths[AM_KEY], matcher.paths[BRIDGE_KEY], lag)


# -- output ------------------------------------------------------------------------------


def quantiles(values: Sequence[float]) -> list[float]:
    return [
        percentile(values, 50),
        percentile(values, 90),
        percentile(values, 99),
        max(values, default=math.nan),
    ]


def ratio(a: float, b: float) -> str:
    if math.isnan(a) or math.isnan(b) or b <= 0:
        return "n/a"
    return f"{a / b:.2f}"


def report(results: list[Result]) -> None:
    rows = []
    for r in results:
        ok = sum(1 for p in r.posted if p.status == 200)
        for label, path in (("Alertmanager → PD", r.am), ("AM → bridge → PD", r.bridge)):
            values = r.latencies(path)
            rows.append(
                [
                    r.scenario.name,
                    label,
                    ok,
                    len(values),
                    path.triggers,
                    len(path.dedup_keys),
                    *(ms(v) for v in quantiles(values)),
                ]
            )
    print_table(
        [
            "scenario",
            "path",
            "posted",
            "paged",
            "trigger events",
            "incidents",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
        ],
        rows,
    )
    print()
    ratio_rows = []
    for r in results:
        am, br = quantiles(r.latencies(r.am)), quantiles(r.latencies(r.bridge))
        both = [p.seq for p in r.posted if p.seq in r.am.first and p.seq in r.bridge.first]
        paired = [r.bridge.first[s] - r.am.first[s] for s in both]
        ratio_rows.append(
            [
                r.scenario.name,
                *(ratio(b, a) for a, b in zip(am, br, strict=True)),
                *(ms(v) for v in quantiles(paired)),
            ]
        )
    print_table(
        [
            "scenario",
            "bridge/AM p50",
            "p90",
            "p99",
            "max",
            "per alert bridge−AM p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
        ],
        ratio_rows,
    )


def bridge_default_pacing() -> int | None:
    """The bridge's default PagerDuty events/minute, if it has that setting."""
    if PACING_VARIABLE not in (REPO_ROOT / "bridge" / "settings.py").read_text("utf-8"):
        return None
    from bridge.settings import load_settings

    value = getattr(load_settings({}), "pagerduty_events_per_minute", None)
    return value if isinstance(value, int) else None


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.support.procs import free_port

    version = subprocess.run(
        ["prometheus-alertmanager", "--version"], capture_output=True, text=True, timeout=30
    )
    am_version = (version.stdout or version.stderr).splitlines()[0]
    print(code_line())
    print(machine_line())
    print(f"{am_version}; clustering off; bridge on SQLite (default), Slack dry-run")
    print(
        f"{args.count} new critical alerts per scenario, one POST /api/v2/alerts every "
        f"{args.interval * 1000:g} ms; latency from just before the POST to the PagerDuty "
        "replica accepting the first trigger carrying the alert"
    )

    scenarios: list[Scenario] = []
    one_node = ["dgx-spark-01"]  # the node the known Prometheus data describes
    modes = ["off", "on", "down"] if not args.no_prometheus else ["off", "down"]
    for wait in args.group_waits:
        for mode in modes:
            label = {
                "off": "enrichment off",
                "on": "enrichment on, Prometheus up",
                "down": "enrichment on, Prometheus down",
            }[mode]
            scenarios.append(
                Scenario(
                    f"per alert, gw {wait}, {label}",
                    mode,
                    ["..."],
                    wait,
                    "5m",
                    one_node,
                    pacing=args.pd_events_per_minute,
                )
            )
    if not args.no_grouped:
        nodes = [f"dgx-spark-{i + 1:02d}" for i in range(args.nodes)]
        scenarios.append(
            Scenario(
                f"by [alertname,node], {args.nodes} nodes, gw {args.group_waits[0]}, "
                f"gi {args.group_interval}, enrichment off",
                "off",
                ["alertname", "node"],
                args.group_waits[0],
                args.group_interval,
                nodes,
                pacing=args.pd_events_per_minute,
            )
        )
    default_pacing = bridge_default_pacing()
    if default_pacing is not None and not args.no_pacing_scenario:
        scenarios.append(
            Scenario(
                f"per alert, gw {args.group_waits[0]}, enrichment off, "
                f"bridge pacing {default_pacing}/min (default)",
                "off",
                ["..."],
                args.group_waits[0],
                "5m",
                one_node,
                pacing=None,
            )
        )
    if default_pacing is None:
        print(f"bridge PagerDuty pacing: no {PACING_VARIABLE} in bridge/settings.py")
    else:
        print(
            f"bridge PagerDuty pacing: {PACING_VARIABLE}={args.pd_events_per_minute} "
            f"(0 = off) in every scenario but the last, which keeps the bridge's default "
            f"({default_pacing}/min); the replica has no rate limit"
        )

    results: list[Result] = []
    known = listener = None
    prometheus_dir = Path(tempfile.mkdtemp(prefix="avb-prometheus-"))
    try:
        if "on" in modes:
            from tests.integration.test_enrich_prometheus import Listener, start_known_prometheus

            listener = Listener()
            known = start_known_prometheus(prometheus_dir, listener.port)
            print(f"prometheus (enrichment on, up): {known.url}, Prometheus 2.42, known data")
        print("prometheus (enrichment on, down): a closed 127.0.0.1 port (connection refused)")
        for scenario in scenarios:
            url = None
            if scenario.enrichment == "on":
                assert known is not None
                url = known.url
            elif scenario.enrichment == "down":
                url = f"http://127.0.0.1:{free_port()}"
            started = time.monotonic()
            result = run_scenario(
                scenario, count=args.count, interval=args.interval, prometheus_url=url
            )
            results.append(result)
            print(
                f"  done: {scenario.name} ({time.monotonic() - started:.0f} s, "
                f"max send lag {ms(result.post_lag_max)} ms)",
                file=sys.stderr,
            )
    finally:
        if known is not None:
            known.proc.stop()
        if listener is not None:
            listener.close()
        shutil.rmtree(prometheus_dir, ignore_errors=True)

    print()
    report(results)
    print()
    print(
        "paged: alerts with a trigger from that path at the replica. trigger events: accepted "
        "triggers carrying this run's alerts. incidents: distinct dedup_keys among them "
        "(Alertmanager: sha256 of the group key, one per group; the bridge: one per alert)."
    )
    print(
        "bridge/AM pN: the bridge path's pN divided by Alertmanager's pN (same alerts, same run). "
        "per alert bridge−AM: percentiles of the per-alert difference between the two paths' "
        "first triggers, i.e. what the webhook hop and the bridge add."
    )
    print(
        "Both receivers share the route's group_wait/group_interval; in the grouped scenario an "
        "alert joining a group that already flushed waits for its next group_interval tick on "
        "both paths, and Alertmanager's event for it updates the group's one incident."
    )
    if default_pacing:
        print(
            f"Bridge pacing: at most {PACING_VARIABLE} PagerDuty requests in any trailing "
            f"minute. In the pacing scenario {WARM_UP_ALERTS} warm-up pages + {args.count} "
            f"alerts in {args.count * args.interval:g} s meet a budget of {default_pacing}: "
            "pages beyond it wait in the outbox until the minute's first requests age out "
            "(Alertmanager does not pace; real PagerDuty answers 429 beyond about 120/min "
            "per routing key)."
        )
    print(machine_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
