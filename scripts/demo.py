"""`make demo`: the whole alert path on this machine, from a simulated fault to a page.

Starts, as child processes, the DGX Spark simulator, a real Prometheus and a real
Alertmanager running this repository's own configuration (temporary copies with the targets
pointed at the simulator and minutes shortened to seconds, exactly as the tests do it), and
`alert-bridge serve` (dry-run delivery; with `--replicas` the PagerDuty and Slack TLS replicas
from tests/fakes run in this process and the bridge really sends to them). Then it prints
where to look, and one line per delivery the bridge makes, until Ctrl-C stops everything.

    .venv/bin/python scripts/demo.py                      # run; inject faults with curl
    .venv/bin/python scripts/demo.py --inject overheat --node dgx-spark-01
    .venv/bin/python scripts/demo.py --replicas           # real HTTPS to the replicas
    .venv/bin/python scripts/demo.py --smoke              # one fault end to end, exit 0/1

`running_stack()` is also what tests/e2e starts, so the demo and the end-to-end tests run
the very same setup.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # run as a script: make `bridge` and `tests` importable
    sys.path.insert(0, str(REPO_ROOT))

# The launch helpers are the tests' own (tests/support), so the demo cannot drift from what
# the tests check. They need the dev dependencies (pytest, trustme): `make setup`.
from tests.fakes.pagerduty import FakePagerDuty  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402
from tests.fakes.tls import TestCA  # noqa: E402
from tests.support.bridge_proc import bridge_env, start_bridge  # noqa: E402
from tests.support.peers import PeerVersions  # noqa: E402
from tests.support.procs import Proc, ProcessDiedError, free_port, wait_until  # noqa: E402
from tests.support.stack_config import (  # noqa: E402
    TEST_WEBHOOK_TOKEN,
    alertmanager_test_config,
    prometheus_test_config,
)
from tests.support.stack_procs import (  # noqa: E402
    SimulatorProc,
    prom_query,
    start_alertmanager,
    start_prometheus,
    start_simulator,
)

T = TypeVar("T")

BINARIES = ("prometheus", "prometheus-alertmanager")
# Throwaway credentials, valid only with the local replicas and the demo's own bridge.
# 32 alphanumeric characters, as PagerDuty requires; the replica accepts only this key.
ROUTING_KEY = "DEM0R0UT1NGKEY0123456789abcdefAB"
SLACK_TOKEN = "xoxb-demo-token"  # noqa: S105
SLACK_CHANNEL = "#alerts"
API_TOKEN = "demo-api-token-0123456789abcdef-demo"  # noqa: S105
DEFAULT_NODE = "dgx-spark-01"
SMOKE_TIMEOUT = 150.0  # seconds; a healthy run takes about 20
POLL_SECONDS = 0.5
# Alerts Prometheus evaluates before it has found Alertmanager are dropped and only re-sent
# after this delay (1m by default): without it the Watchdog reaches the bridge a minute late.
RESEND_DELAY = "--rules.alert.resend-delay=2s"
FINISHED = ("delivered", "dry_run", "dead")

# The alert each simulator fault is expected to fire (prometheus/rules/alerting-rules.yml).
ALERT_OF_FAULT = {
    "overheat": "GPUTemperatureCritical",
    "memory_pressure": "GPUMemoryExhausted",
    "xid": "GPUXIDError",
    "exporter_down": "ExporterDown",
    "node_down": "DGXSparkNodeDown",
    "cpu_high": "HighCPUUsage",
    "underutilized": "GPUUnderutilized",
    "throttle": "GPUThermalThrottling",
}


# -- the stack -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackOptions:
    nodes: int = 2
    replicas: bool = False  # PagerDuty and Slack replicas instead of dry-run
    database_url: str | None = None  # default: SQLite in the work directory
    # Alertmanager's repeat_interval on every route; None keeps the project's (1h and more).
    repeat_interval: str | None = None
    xid_window: str = "2m"  # how long the simulator's XID count series lasts
    webhook_token: str = TEST_WEBHOOK_TOKEN
    api_token: str = API_TOKEN
    bridge_env: Mapping[str, str] = field(default_factory=dict)  # extra BRIDGE_* settings
    # Which Prometheus/Alertmanager (an end of the supported range); None: the machine's.
    peers: PeerVersions | None = None


@dataclass
class Stack:
    workdir: Path
    options: StackOptions
    sim: SimulatorProc
    bridge: Proc
    alertmanager: Proc
    prometheus: Proc
    ca: TestCA | None = None
    pagerduty: FakePagerDuty | None = None
    slack: FakeSlack | None = None

    @property
    def procs(self) -> list[Proc]:
        return [self.sim, self.bridge, self.alertmanager, self.prometheus]

    def wait(self, probe: Callable[[], T | None], what: str, timeout: float = 90.0) -> T:
        """`wait_until`, failing at once (with logs) if any process of the stack dies."""
        return wait_until(probe, timeout=timeout, what=what, procs=self.procs)

    def bridge_alerts(self) -> list[dict[str, Any]]:
        """What the bridge knows: each alert with its deliveries (`GET /alerts`)."""
        response = requests.get(f"{self.bridge.url}/alerts", params={"limit": 500}, timeout=10)
        response.raise_for_status()
        alerts: list[dict[str, Any]] = response.json()["alerts"]
        return alerts


def missing_binaries(peers: PeerVersions | None = None) -> list[str]:
    if peers is not None:
        return [name for name in BINARIES if peers.which(name) is None]
    return [name for name in BINARIES if shutil.which(name) is None]


def _two_free_ports() -> tuple[int, int]:
    first, second = free_port(), free_port()
    while second == first:
        second = free_port()
    return first, second


def _replica_env(ca: TestCA, pagerduty: FakePagerDuty, slack: FakeSlack) -> dict[str, str]:
    return {
        "BRIDGE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
        "BRIDGE_PAGERDUTY_EVENTS_URL": pagerduty.url,
        "BRIDGE_SLACK_BOT_TOKEN": SLACK_TOKEN,
        "BRIDGE_SLACK_CHANNEL": SLACK_CHANNEL,
        "BRIDGE_SLACK_API_URL": slack.api_url,
        "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
    }


@contextlib.contextmanager
def running_stack(workdir: Path, options: StackOptions | None = None) -> Iterator[Stack]:
    """Simulator, bridge, Alertmanager and Prometheus, each ready; all stopped on exit.

    Started in the order each needs the previous one's address: the bridge before
    Alertmanager (its webhook URL), Alertmanager before Prometheus. Prometheus and
    Alertmanager ports are chosen up front so the bridge can be told where to enrich from
    and where to put silences. Stopped in reverse: Prometheus first, so nothing fires at a
    half-stopped pipeline.
    """
    options = options or StackOptions()
    with contextlib.ExitStack() as cleanup:
        targets = workdir / "sim-targets"
        sim = cleanup.enter_context(
            start_simulator(
                workdir,
                nodes=options.nodes,
                targets_dir=targets,
                extra_args=[f"--xid-window={options.xid_window}"],
            )
        )
        prom_port, am_port = _two_free_ports()
        prom_url, am_url = f"http://127.0.0.1:{prom_port}", f"http://127.0.0.1:{am_port}"

        ca = pagerduty = slack = None
        env = {
            "BRIDGE_WEBHOOK_TOKEN": options.webhook_token,
            "BRIDGE_API_TOKEN": options.api_token,
            "BRIDGE_PROMETHEUS_URL": prom_url,
            "BRIDGE_ALERTMANAGER_URL": am_url,
            **options.bridge_env,
        }
        if options.replicas:
            ca = TestCA(workdir / "ca")
            pagerduty = cleanup.enter_context(FakePagerDuty(ca, routing_keys={ROUTING_KEY}))
            slack = cleanup.enter_context(FakeSlack(ca, token=SLACK_TOKEN))
            env.update(_replica_env(ca, pagerduty, slack))
        database_url = options.database_url or f"sqlite:///{workdir / 'bridge.db'}"
        bridge = cleanup.enter_context(
            start_bridge(workdir, bridge_env(workdir, database_url, **env))
        )

        am_config = alertmanager_test_config(
            workdir / "alertmanager",
            webhook_base_url=bridge.url,
            token=options.webhook_token,
            repeat_interval=options.repeat_interval,
        )
        alertmanager = cleanup.enter_context(
            start_alertmanager(am_config.path, workdir, am_port, peers=options.peers)
        )
        prom_dir = prometheus_test_config(
            workdir / "prometheus",
            targets,
            prometheus_port=prom_port,
            alertmanager_ports=[am_port],
            # Scraping the bridge keeps AlertBridgeDown quiet, as in production.
            static_targets={"alert-bridge": bridge.url.removeprefix("http://")},
        )
        prometheus = cleanup.enter_context(
            start_prometheus(
                prom_dir, workdir, prom_port, extra_args=[RESEND_DELAY], peers=options.peers
            )
        )
        yield Stack(workdir, options, sim, bridge, alertmanager, prometheus, ca, pagerduty, slack)


def wait_until_scraped(stack: Stack, timeout: float = 60.0) -> None:
    """Until Prometheus has scraped every simulated exporter (before that no rule can fire)."""
    expected = len(stack.sim.nodes()) * 4  # dcgm, node, vllm, spark per node

    def all_up() -> bool:
        up = prom_query(stack.prometheus.url, 'up{job=~"dcgm|node|vllm|spark"} == 1')
        return len(up["result"]) == expected

    stack.wait(all_up, "Prometheus to scrape every simulated exporter", timeout)


# -- what the demo prints ------------------------------------------------------------------------


def fault_body(node: str, fault: str, value: float | None = None) -> dict[str, Any]:
    """A `POST /faults` body for the simulator, with the parameter each fault needs."""
    body: dict[str, Any] = {"node": node, "fault": fault}
    if fault == "xid":
        body["code"] = int(value) if value is not None else 79
    elif fault == "exporter_down":
        body["exporter"] = "dcgm"
    elif fault != "node_down" and value is not None:
        body["value"] = value
    return body


def curl_inject(sim_url: str, body: Mapping[str, Any]) -> str:
    return (
        f"curl -X POST {sim_url}/faults -H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body))}"
    )


def describe(stack: Stack) -> str:
    """Where to look, and how to break something."""
    example = fault_body(DEFAULT_NODE, "overheat", 92)
    lines = [
        "DGX Spark alert pipeline is running (Ctrl-C stops everything):",
        f"  Prometheus        {stack.prometheus.url}/alerts",
        f"  Alertmanager      {stack.alertmanager.url}/#/alerts",
        f"  bridge            {stack.bridge.url}/alerts",
        f"  simulator control {stack.sim.url}/faults  (nodes: {stack.sim.url}/nodes)",
    ]
    if stack.pagerduty is not None and stack.slack is not None and stack.ca is not None:
        cacert = f"--cacert {stack.ca.ca_bundle}"
        lines += [
            f"  PagerDuty replica curl {cacert} {stack.pagerduty.url}/_fake/events",
            f"  Slack replica     curl {cacert} {stack.slack.url}/_fake/messages",
        ]
    else:
        lines.append("  delivery          dry-run (recorded in /alerts; --replicas to send)")
    lines += [
        f"  logs              {stack.workdir}",
        "Inject a fault:",
        f"  {curl_inject(stack.sim.url, example)}",
        "Clear it:",
        f"  curl -X DELETE '{stack.sim.url}/faults?node={DEFAULT_NODE}'",
        "Faults: " + ", ".join(ALERT_OF_FAULT) + ". Deliveries appear below as they happen.",
    ]
    return "\n".join(lines)


def _local_time(iso: str | None) -> str:
    return datetime.fromisoformat(iso).astimezone().strftime("%H:%M:%S") if iso else "--:--:--"


def delivery_line(alert: Mapping[str, Any], delivery: Mapping[str, Any]) -> str:
    """One line per delivery: when, where to, what, and the alert's own summary."""
    when = _local_time(delivery.get("finished_at") or delivery.get("created_at"))
    summary = (alert.get("annotations") or {}).get("summary", "")
    return (
        f"{when}  {delivery['channel']:<9} {delivery['action']:<8} {delivery['status']:<9} "
        f"{alert['alertname']} on {alert.get('node') or '-'}: {summary}"
    )


class DeliveryPrinter:
    """Prints each delivery of the bridge once, when it has finished (sent, dry-run or dead)."""

    def __init__(self, stack: Stack, out: Callable[[str], None] = print) -> None:
        self._stack = stack
        self._out = out
        self._seen: set[int] = set()

    def poll(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Print and return the deliveries that finished since the last poll."""
        try:
            alerts = self._stack.bridge_alerts()
        except requests.RequestException:
            return []  # a slow answer is not fatal: the next poll catches up
        new = []
        for alert in reversed(alerts):  # oldest change first
            for delivery in alert["deliveries"]:
                if delivery["status"] in FINISHED and delivery["id"] not in self._seen:
                    self._seen.add(delivery["id"])
                    self._out(delivery_line(alert, delivery))
                    new.append((alert, delivery))
        return new


def is_delivery_for(
    alert: Mapping[str, Any], delivery: Mapping[str, Any], alertname: str, node: str
) -> bool:
    return (
        alert["alertname"] == alertname
        and alert.get("node") == node
        and delivery["action"] == "trigger"
        and delivery["status"] in ("delivered", "dry_run")
    )


# -- the command ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo.py",
        description="Run the simulator, Prometheus, Alertmanager and the bridge together.",
    )
    parser.add_argument("--replicas", action="store_true", help="send to PagerDuty/Slack replicas")
    parser.add_argument("--inject", choices=sorted(ALERT_OF_FAULT), help="inject this fault")
    parser.add_argument("--node", default=DEFAULT_NODE, help=f"(default: {DEFAULT_NODE})")
    parser.add_argument("--value", type=float, help="fault value (°C, %%, XID code...)")
    parser.add_argument("--nodes", type=int, default=2, help="simulated nodes (default: 2)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="inject one fault (default overheat), wait for its delivery, exit 0 (1 on timeout)",
    )
    parser.add_argument("--timeout", type=float, default=SMOKE_TIMEOUT, help="for --smoke")
    parser.add_argument("--workdir", type=Path, help="logs and data (default: a temp dir)")
    return parser.parse_args(argv)


def _inject(stack: Stack, args: argparse.Namespace) -> tuple[str, str]:
    """Inject the requested fault once the exporters are scraped; the alert to expect."""
    fault = args.inject or "overheat"
    wait_until_scraped(stack)
    body = fault_body(args.node, fault, args.value)
    print(f"injecting {json.dumps(body)}")
    params = {k: v for k, v in body.items() if k not in ("node", "fault")}
    stack.sim.inject(args.node, fault, **params)
    alertname = ALERT_OF_FAULT[fault]
    print(f"waiting for {alertname} on {args.node} to reach the bridge ...", flush=True)
    return alertname, args.node


def smoke(stack: Stack, args: argparse.Namespace) -> int:
    alertname, node = _inject(stack, args)
    printer = DeliveryPrinter(stack)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        for alert, delivery in printer.poll():
            if is_delivery_for(alert, delivery, alertname, node):
                channel = delivery["channel"]
                print(f"smoke test passed: {alertname} on {node} delivered via {channel}")
                return 0
        for proc in stack.procs:
            proc.check_alive()
        time.sleep(POLL_SECONDS)
    print(f"smoke test FAILED: no delivery of {alertname} on {node} in {args.timeout:g}s")
    for proc in stack.procs:
        print(proc.describe())
    return 1


def watch(stack: Stack, args: argparse.Namespace) -> int:
    """Print deliveries until interrupted (Ctrl-C or SIGTERM end the demo with 0)."""
    if args.inject:
        _inject(stack, args)
    printer = DeliveryPrinter(stack)
    while True:
        printer.poll()
        for proc in stack.procs:
            proc.check_alive()
        time.sleep(POLL_SECONDS)


def run(args: argparse.Namespace, workdir: Path) -> int:
    options = StackOptions(
        nodes=args.nodes,
        replicas=args.replicas,
        # A demo log at DEBUG would bury the interesting lines.
        bridge_env={"BRIDGE_LOG_LEVEL": "INFO"},
    )
    print(f"starting the stack in {workdir} ...", flush=True)
    with running_stack(workdir, options) as stack:
        print(describe(stack), flush=True)
        try:
            return smoke(stack, args) if args.smoke else watch(stack, args)
        except KeyboardInterrupt:
            print("\nstopping ...", flush=True)
            return 0
        except ProcessDiedError as exc:  # its log tail is in the message
            print(f"demo: {exc}", file=sys.stderr)
            return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_binaries()
    if missing:
        print(
            f"demo: {', '.join(missing)} not installed "
            "(sudo apt-get install prometheus prometheus-alertmanager)",
            file=sys.stderr,
        )
        return 2
    # SIGTERM ends the demo like Ctrl-C: every child is stopped on the way out. SIGINT is set
    # too, as a shell starting the demo in the background would have it ignored.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.default_int_handler)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="dgx-spark-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        code = run(args, workdir)
    except KeyboardInterrupt:  # during start-up
        print("\nstopped", flush=True)
        code = 0
    if code == 0 and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs kept in {workdir}")
    print(f"demo finished at {datetime.now():%H:%M:%S}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
