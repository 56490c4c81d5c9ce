"""An alert storm: 10,000 critical alerts in 60 s against rate-limited PagerDuty and Slack.

A real `alert-bridge serve` (SQLite, the default) gets `--posts` webhook POSTs (default
100) of `--alerts-per-post` new critical alerts each (default 100), evenly spread over
`--seconds` (default 60), open loop. With folding (BRIDGE_STORM_FOLD=on, the bridge's
default) the first alerts page on their own and the rest fold into one storm incident
(one PagerDuty incident refreshed at most once a minute, one Slack message updated in
place); with `--fold off` every alert pages: one PagerDuty trigger per alert, and one Slack
message per POST (the bridge groups the Slack triggers of one notification). A
`DGXSparkNodeDown` is posted halfway through the storm.
Both vendors are the HTTPS replicas of tests/fakes in this process, with the vendors'
documented limits enforced:

- PagerDuty: `rate_limit_per_minute=120` per routing key (sliding 60 s window, 429 beyond,
  no Retry-After), only the bridge's routing key accepted;
- Slack: `rate_limit_per_second=1` per channel (429 + `Retry-After: 1`).

After the storm the bridge gets up to `--drain` seconds (default 600) to deliver what it
acked. Printed: a timeline, alerts acked / delivered / still queued / dead / unaccounted
per channel, the projected time to empty the queue, PagerDuty events accepted per minute
(max over 60 s sliding windows) and 429s, Slack messages per second (max over 1 s windows)
and 429s, and the peak RSS (VmHWM) of the bridge's processes (`python -m bridge serve` and
its delivery child); with folding, the storm incidents, their PagerDuty events, the Slack
messages about the storm in the first minute and the alerts lost (every acked alert must be
listed by `GET /alerts`, and paged on its own or folded into a storm PagerDuty accepted).

    .venv/bin/python bench/storm.py [--posts 100] [--alerts-per-post 100] [--seconds 60]
                                    [--drain 600] [--pd-events-per-minute N]
                                    [--fold on|off] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import sqlite3
import sys
import tempfile
import threading
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import (
    REPO_ROOT,
    UNSENT,
    Bridge,
    PayloadFactory,
    code_line,
    machine_line,
    ms,
    open_loop,
    percentile,
    print_table,
    running_bridge,
)
from storm_fold import list_alerts, report_folding

ROUTING_KEY = "stormstormstormstormstormstorm01"
SLACK_TOKEN = "xoxb-storm-bench-token"
SLACK_CHANNEL = "#alerts"
DEDUP_PREFIX = "dgx-spark-bridge/"
NEWCOMER = "DGXSparkNodeDown"
PACING_VARIABLE = "BRIDGE_PAGERDUTY_EVENTS_PER_MINUTE"
FOLD_VARIABLE = "BRIDGE_STORM_FOLD"
PD_LIMIT_PER_MINUTE = 120
SLACK_LIMIT_PER_SECOND = 1
SAMPLE_SECONDS = 1.0
KIB = 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
UNFINISHED = ("pending", "in_flight")
# The queue's projected drain time uses the delivery rate over this last part of the run.
RECENT_WINDOW_S = 300.0
# Shorter spans say little about a rate paced per minute (bursts of a minute's budget).
MIN_RATE_SPAN_S = 120.0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--posts", type=int, default=100, help="webhook POSTs in the storm")
    parser.add_argument("--alerts-per-post", type=int, default=100, help="new alerts per POST")
    parser.add_argument("--seconds", type=float, default=60.0, help="storm duration")
    parser.add_argument(
        "--drain", type=float, default=600.0, help="max seconds to wait for deliveries after"
    )
    parser.add_argument("--threads", type=int, default=4, help="sender threads")
    parser.add_argument(
        "--pd-events-per-minute",
        type=int,
        default=None,
        help=f"set {PACING_VARIABLE} for the bridge (default: the bridge's own default)",
    )
    parser.add_argument(
        "--fold",
        choices=("on", "off"),
        default=None,
        help=f"set {FOLD_VARIABLE} for the bridge (default: the bridge's own default)",
    )
    parser.add_argument("--timeline", type=float, default=60.0, help="seconds per timeline row")
    parser.add_argument("--log-level", default="WARNING", help="the bridge's BRIDGE_LOG_LEVEL")
    parser.add_argument(
        "--quick", action="store_true", help="20 POSTs of 100 alerts in 12 s, 60 s drain"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.posts, args.seconds, args.drain = min(args.posts, 20), 12.0, min(args.drain, 60.0)
        args.timeline = min(args.timeline, 15.0)
    return args


# -- the bridge's processes --------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (Linux /proc: every thread's children)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in children.read_text().split()]
    return found


def status_kib(pid: int, key: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


def cpu_seconds(pid: int) -> float | None:
    with contextlib.suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return None


def describe_process(pid: int, root: int) -> str:
    if pid == root:
        return "python -m bridge serve (web)"
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if "resource_tracker" in cmdline:
            return "multiprocessing resource tracker"
        if "spawn_main" in cmdline:
            return "delivery child (multiprocessing spawn)"
        return cmdline[:60]
    return "?"


@dataclass
class ProcStats:
    name: str
    hwm_kib: int = 0
    rss_kib: int = 0
    cpu_s: float = 0.0


# -- what happened so far ----------------------------------------------------------------


@dataclass
class Snapshot:
    at: float  # seconds since the storm's first due time
    pd_accepted: int
    pd_429: int
    slack_messages: int
    slack_429: int
    outbox: dict[tuple[str, str], int]  # (channel, status) -> rows
    rss_kib: int
    cpu_s: float  # CPU time of the bridge's processes so far

    def rows(self, channel: str, *statuses: str) -> int:
        return sum(self.outbox.get((channel, s), 0) for s in statuses)


@dataclass
class Monitor:
    """Samples the replicas, the bridge's database and its processes every second."""

    bridge: Bridge
    pd: Any
    slack: Any
    t0: float
    procs: dict[int, ProcStats] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    latest: Snapshot | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.db_path = self.bridge.state_dir / "bridge.db"

    def t_last_post(self, samples: list[Any]) -> float:
        """When the storm's last POST was answered, in seconds from the first due time."""
        return max((s.done for s in samples if s.status != UNSENT), default=self.t0) - self.t0

    def outbox(self) -> dict[tuple[str, str], int]:
        try:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
            ) as conn:
                rows = conn.execute(
                    "SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status"
                ).fetchall()
        except sqlite3.Error as exc:
            print(f"warning: reading the outbox failed: {exc}", file=sys.stderr)
            return self.latest.outbox if self.latest else {}
        return {(channel, status): count for channel, status, count in rows}

    def sample_processes(self) -> int:
        total = 0
        for pid in process_tree(self.bridge.pid):
            stats = self.procs.get(pid)
            if stats is None:
                stats = self.procs[pid] = ProcStats(describe_process(pid, self.bridge.pid))
            hwm, rss, cpu = status_kib(pid, "VmHWM"), status_kib(pid, "VmRSS"), cpu_seconds(pid)
            if hwm is not None:
                stats.hwm_kib = max(stats.hwm_kib, hwm)
            if rss is not None:
                stats.rss_kib = rss
                total += rss
            if cpu is not None:
                stats.cpu_s = cpu
        return total

    def snapshot(self) -> Snapshot:
        rss = self.sample_processes()
        # Copies of lists the replicas only append to.
        pd_accepted = len(self.pd.events)
        pd_429 = sum(1 for r in list(self.pd.requests) if r.status == 429)
        calls = [c for c in list(self.slack.calls) if c.api_method == "chat.postMessage"]
        slack_messages = sum(1 for c in calls if c.status == 200 and c.ok)
        slack_429 = sum(1 for c in calls if c.status == 429)
        snap = Snapshot(
            time.monotonic() - self.t0,
            pd_accepted,
            pd_429,
            slack_messages,
            slack_429,
            self.outbox(),
            rss,
            sum(p.cpu_s for p in self.procs.values()),
        )
        self.latest = snap
        return snap

    def _run(self, every: float) -> None:
        next_row = self.t0
        while not self._stop.is_set():
            snap = self.snapshot()
            if time.monotonic() >= next_row:
                self.snapshots.append(snap)
                next_row += every
            self._stop.wait(SAMPLE_SECONDS)

    @contextlib.contextmanager
    def running(self, every: float) -> Iterator[Monitor]:
        self._thread = threading.Thread(
            target=self._run, args=(every,), name="monitor", daemon=True
        )
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)
            final = self.snapshot()
            if self.snapshots and final.at - self.snapshots[-1].at < 2 * SAMPLE_SECONDS:
                self.snapshots[-1] = final  # one row for the end, not two a moment apart
            else:
                self.snapshots.append(final)


# -- statistics --------------------------------------------------------------------------


def max_in_window(times: Sequence[float], window: float) -> tuple[int, float]:
    """Most events in any `window`-second interval [t, t + window), and where it starts."""
    ordered = sorted(times)
    best, at = 0, math.nan
    for i, start in enumerate(ordered):
        n = bisect_left(ordered, start + window, lo=i) - i
        if n > best:
            best, at = n, start
    return best, at


def pacing_setting(override: int | None) -> str:
    """The header line: what the bridge under test does about PagerDuty pacing."""
    value = pacing_value(override)
    if value is None:
        return f"{PACING_VARIABLE}: not in bridge/settings.py (no pacing setting)"
    where = "set by --pd-events-per-minute" if override is not None else "the bridge's default"
    return f"{PACING_VARIABLE}={value} ({where}{'; 0 = pacing off' if value == 0 else ''})"


def fold_setting(override: str | None) -> bool:
    """Does the bridge under test fold storms (its BRIDGE_STORM_FOLD, or --fold)?"""
    if override is not None:
        return override == "on"
    from bridge.settings import load_settings

    return bool(getattr(load_settings({}), "storm_fold", False))


def pacing_value(override: int | None) -> int | None:
    """The events/minute the bridge paces PagerDuty to, when it has that setting."""
    source = (REPO_ROOT / "bridge" / "settings.py").read_text(encoding="utf-8")
    if PACING_VARIABLE not in source:
        return None
    if override is not None:
        return override
    from bridge.settings import load_settings

    value = getattr(load_settings({}), "pagerduty_events_per_minute", None)
    return value if isinstance(value, int) else None


def fmt_minutes(seconds: float) -> str:
    if math.isnan(seconds) or math.isinf(seconds):
        return "n/a"
    return f"{seconds / 60:.1f} min"


# -- the run -----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.slack import FakeSlack
    from tests.fakes.tls import TestCA
    from tests.support.procs import free_port

    total_alerts = args.posts * args.alerts_per_post
    print(code_line())
    print(machine_line())
    print(pacing_setting(args.pd_events_per_minute))
    fold = fold_setting(args.fold)
    print(f"{FOLD_VARIABLE}={'on' if fold else 'off'}")
    print(
        f"storm: {args.posts} webhook POSTs x {args.alerts_per_post} new critical alerts = "
        f"{total_alerts} alerts, evenly over {args.seconds:g} s (open loop, "
        f"{args.threads} senders); drain bound {args.drain:g} s after the storm"
    )
    print(
        f"bridge: SQLite (default), enrichment off; PagerDuty replica {PD_LIMIT_PER_MINUTE}/min "
        f"per routing key; Slack replica {SLACK_LIMIT_PER_SECOND}/s per channel"
    )

    factory = PayloadFactory(args.alerts_per_post, severity="critical", tag="storm")
    bodies = [factory.body(n) for n in range(args.posts)]
    workdir = Path(tempfile.mkdtemp(prefix="storm-bench-"))
    ca = TestCA()
    pd = FakePagerDuty(ca, routing_keys=[ROUTING_KEY], rate_limit_per_minute=PD_LIMIT_PER_MINUTE)
    slack = FakeSlack(ca, token=SLACK_TOKEN, rate_limit_per_second=SLACK_LIMIT_PER_SECOND)
    drained_at = math.nan
    try:
        pd.start()
        slack.start()
        config = workdir / "bridge.yml"
        config.write_text("enrichment:\n  enabled: false\n", encoding="utf-8")
        env = {
            "BRIDGE_PAGERDUTY_ROUTING_KEY": ROUTING_KEY,
            "BRIDGE_PAGERDUTY_EVENTS_URL": pd.url,
            "BRIDGE_SLACK_BOT_TOKEN": SLACK_TOKEN,
            "BRIDGE_SLACK_CHANNEL": SLACK_CHANNEL,
            "BRIDGE_SLACK_API_URL": slack.api_url,
            "BRIDGE_CA_BUNDLE": str(ca.ca_bundle),
            "BRIDGE_CONFIG": str(config),
            # Nothing of this machine's: ports that were free a moment ago.
            "BRIDGE_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",
            "BRIDGE_ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
        }
        if args.pd_events_per_minute is not None:
            env[PACING_VARIABLE] = str(args.pd_events_per_minute)
        if args.fold is not None:
            env[FOLD_VARIABLE] = args.fold
        with running_bridge(env=env, log_level=args.log_level, name="bridge-storm") as bridge:
            t0 = time.monotonic() + 0.2  # open_loop's first due time
            monitor = Monitor(bridge, pd, slack, t0)
            with monitor.running(args.timeline):
                # A new problem halfway through the storm: how long until it pages?
                newcomer = Newcomer(factory.run)
                midway = threading.Timer(
                    max(0.0, t0 + args.seconds / 2 - time.monotonic()),
                    newcomer.post,
                    args=(bridge.webhook_url,),
                )
                midway.start()
                samples = open_loop(
                    bridge.webhook_url,
                    bodies,
                    rate=args.posts / args.seconds,
                    threads=args.threads,
                    start_delay=max(0.0, t0 - time.monotonic()),
                )
                midway.join()
                acked_seqs = [s.seq for s in samples if s.status == 200]
                deadline = time.monotonic() + args.drain
                while time.monotonic() < deadline:
                    time.sleep(2.0)
                    snap = monitor.latest
                    # Every row was committed before its POST was answered: the outbox is
                    # drained when none is unfinished (a storm refresh due later counts).
                    if (
                        snap is not None
                        and snap.at > monitor.t_last_post(samples) + 2
                        and not any(snap.rows(ch, *UNFINISHED) for ch in ("pagerduty", "slack"))
                    ):
                        drained_at = time.monotonic() - t0
                        break
                bound_at = time.monotonic() - t0
                rows = final_rows(monitor.db_path)
                procs = dict(monitor.procs)
                listed = list_alerts(bridge.url)
            pd_events = [e for e in pd.triggers() if e.get("routing_key") == ROUTING_KEY]
            pd_requests = list(pd.requests)
            pd_429_times = [r.received_at for r in pd_requests if r.status == 429]
            posts = [c for c in list(slack.calls) if c.api_method == "chat.postMessage"]
            slack_ok = [c.received_at for c in posts if c.status == 200 and c.ok]
            slack_429 = [c.received_at for c in posts if c.status == 429]
            slack_errors = [c.error for c in posts if c.status == 200 and not c.ok]
    finally:
        pd.stop()
        slack.stop()
        ca.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)

    report(
        args,
        samples=samples,
        factory=factory,
        acked_seqs=acked_seqs,
        monitor=monitor,
        pacing=pacing_value(args.pd_events_per_minute),
        rows=rows,
        procs=procs,
        pd_events=pd_events,
        pd_429_times=pd_429_times,
        pd_requests=len(pd_requests),
        slack_ok=slack_ok,
        slack_requests=len(posts),
        slack_429=slack_429,
        slack_errors=slack_errors,
        t0=t0,
        drained_at=drained_at,
        bound_at=bound_at,
        folded={fp for fp, a in listed.items() if a.storm is not None},
    )
    if fold:
        report_folding(
            acked={fp for seq in acked_seqs for fp in factory.fingerprints(seq)},
            listed=listed,
            pd_events=pd_events,
            slack=slack,
            t0=t0,
            newcomer_fp=newcomer.fingerprint,
            dedup_prefix=DEDUP_PREFIX,
        )
    report_newcomer(newcomer, pd_events)
    return 0


@dataclass
class Newcomer:
    """One critical alert of another name, posted halfway through the storm."""

    run: str
    sample: Any = None

    def post(self, url: str) -> None:
        [self.sample] = open_loop(url, [self.body()], rate=1.0, threads=1, start_delay=0.0)

    @property
    def fingerprint(self) -> str:
        return f"{self.run}-newcomer"

    def body(self) -> bytes:
        from tests.support.payloads import alert, payload

        probe = alert(NEWCOMER, node="dgx-newcomer", gpu=None, fingerprint=self.fingerprint)
        return json.dumps(payload(probe)).encode()


def report_newcomer(newcomer: Newcomer, pd_events: list[dict[str, Any]]) -> None:
    print()
    what = f"new problem during the storm ({NEWCOMER}, posted halfway through it)"
    sample = newcomer.sample
    if sample is None or sample.status != 200:
        print(f"{what}: not acked")
        return
    paged = [
        e["received_at"]
        for e in pd_events
        if e.get("dedup_key", "").removeprefix(DEDUP_PREFIX) == newcomer.fingerprint
    ]
    if not paged:
        print(f"{what}: not paged within the drain bound")
        return
    # Storm pages the replica accepted between its POST and its page.
    ahead = sum(1 for e in pd_events if sample.sent <= e["received_at"] < paged[0])
    print(
        f"{what}: paged {(paged[0] - sample.sent) * 1000:.0f} ms after its POST; "
        f"{ahead} storm pages went out in between"
    )


@dataclass(frozen=True)
class Row:
    """One outbox row at the end of the run."""

    id: int
    fingerprint: str
    alertname: str
    channel: str
    action: str
    status: str
    attempts: int


def final_rows(db_path: Path) -> list[Row]:
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)) as c:
        return [
            Row(*r)
            for r in c.execute(
                "SELECT d.id, a.fingerprint, a.alertname, d.channel, d.action, d.status, "
                "d.attempts FROM deliveries d JOIN alerts a ON a.id = d.alert_id ORDER BY d.id"
            )
        ]


def report(
    args: argparse.Namespace,
    *,
    samples: list[Any],
    factory: PayloadFactory,
    acked_seqs: list[int],
    monitor: Monitor,
    pacing: int | None,
    rows: list[Row],
    procs: dict[int, ProcStats],
    pd_events: list[dict[str, Any]],
    pd_429_times: list[float],
    pd_requests: int,
    slack_ok: list[float],
    slack_requests: int,
    slack_429: list[float],
    slack_errors: list[str | None],
    t0: float,
    drained_at: float,
    bound_at: float,
    folded: set[str],
) -> None:
    """`folded`: alerts `GET /alerts` shows folded into a storm incident (not paged alone)."""
    sent = [s for s in samples if s.status != UNSENT]
    acks = [s.done - s.due for s in sent if s.status == 200]
    acked = {fp for seq in acked_seqs for fp in factory.fingerprints(seq)}

    # -- timeline
    print()
    print(f"timeline (seconds from the first POST; every {args.timeline:g} s, then the end)")
    timeline = []
    for snap in monitor.snapshots:
        timeline.append(
            [
                f"{snap.at:.0f}",
                sum(n for (ch, _), n in snap.outbox.items() if ch == "pagerduty"),
                snap.pd_accepted,
                snap.pd_429,
                snap.rows("pagerduty", *UNFINISHED),
                snap.slack_messages,
                snap.slack_429,
                snap.rows("slack", *UNFINISHED),
                f"{snap.rss_kib / KIB:.0f}",
                f"{snap.cpu_s:.0f}",
            ]
        )
    print_table(
        [
            "t s",
            "alerts in outbox",
            "PD accepted",
            "PD 429",
            "PD queued",
            "Slack msgs",
            "Slack 429",
            "Slack queued",
            "RSS MiB",
            "CPU s",
        ],
        timeline,
    )

    # -- per channel
    by_channel: dict[str, dict[str, set[str]]] = {"pagerduty": {}, "slack": {}}
    for row in rows:
        if row.channel in by_channel and row.fingerprint in acked:
            by_channel[row.channel].setdefault(row.status, set()).add(row.fingerprint)
    pd_keys = [str(e.get("dedup_key", "")) for e in pd_events if e["event_action"] == "trigger"]
    pd_delivered = {k.removeprefix(DEDUP_PREFIX) for k in pd_keys} & acked
    delivered = {
        "pagerduty": pd_delivered,
        "slack": by_channel["slack"].get("delivered", set()) & acked,
    }
    channel_rows = []
    projections = []
    for channel in ("pagerduty", "slack"):
        states = by_channel[channel]
        queued = (states.get("pending", set()) | states.get("in_flight", set())) & acked
        dead = states.get("dead", set()) & acked
        in_storm = folded & acked
        unaccounted = acked - delivered[channel] - in_storm - queued - dead
        rate, span = recent_rate(monitor.snapshots, channel)
        eta = len(queued) / rate if rate > 0 else math.inf if queued else 0.0
        channel_rows.append(
            [
                "PagerDuty" if channel == "pagerduty" else "Slack",
                len(acked),
                len(delivered[channel]),
                len(in_storm),
                len(queued),
                len(dead),
                len(unaccounted),
                len(dead) + len(unaccounted),
            ]
        )
        projections.append((channel, len(queued), rate, span, eta))
    print()
    drained = (
        f"every acked alert delivered {drained_at:.0f} s after the first POST"
        if not math.isnan(drained_at)
        else f"drain bound reached {bound_at:.0f} s after the first POST"
    )
    print(f"alerts, per channel, at the end ({drained})")
    print_table(
        [
            "channel",
            "acked",
            "delivered",
            "folded into a storm",
            "still queued",
            "dead",
            "unaccounted",
            "lost",
        ],
        channel_rows,
    )
    for channel, queued_count, rate, span, eta in projections:
        if not queued_count:
            continue
        line = f"{channel}: {queued_count} alerts still queued at the bound"
        if span >= MIN_RATE_SPAN_S:
            line += (
                f". At the rate delivered over the last {span / 60:.1f} min of the run "
                f"({rate * 60:.0f}/min): about {fmt_minutes(eta)} more, "
                f"{fmt_minutes(bound_at + eta)} from the first POST"
            )
        if channel == "pagerduty" and pacing:
            paced = queued_count / (pacing / 60.0)
            line += (
                f"; at the pacing setting ({pacing}/min): {fmt_minutes(paced)} more, "
                f"{fmt_minutes(bound_at + paced)} from the first POST"
            )
        print(line)

    # -- alerts the storm did not send (the bridge's own, e.g. AlertingPipelineDown)
    others = [r for r in rows if r.fingerprint not in acked]
    if others:
        print()
        print("other alerts in the outbox (not sent by the benchmark)")
        other_rows = []
        for r in others:
            ahead = sum(
                1 for q in rows if q.channel == r.channel and q.status in UNFINISHED and q.id < r.id
            )
            other_rows.append(
                [
                    r.alertname,
                    r.channel,
                    r.action,
                    r.status,
                    r.attempts,
                    ahead if r.status in UNFINISHED else "n/a",
                ]
            )
        print_table(
            ["alertname", "channel", "action", "status", "attempts", "queued ahead of it"],
            other_rows,
        )
        if any(r.alertname == "AlertingPipelineDown" for r in others):
            print(
                "AlertingPipelineDown is the bridge's dead-man's switch: no Watchdog reached it "
                "for BRIDGE_WATCHDOG_TIMEOUT + BRIDGE_WATCHDOG_GRACE (5 + 2 min) after start-up "
                "(nothing sends one here)."
            )

    # -- vendor side
    pd_times = [e["received_at"] for e in pd_events]
    pd_max, pd_at = max_in_window(pd_times, 60.0)
    pd_max_1s, pd_at_1s = max_in_window(pd_times, 1.0)
    slack_max, slack_at = max_in_window(slack_ok, 1.0)
    # A storm incident's refreshes share its dedup_key by design: only alerts' own pages count.
    own_keys = [k for k in pd_keys if not k.startswith(DEDUP_PREFIX + "storm/")]
    duplicates = len(own_keys) - len(set(own_keys))
    own_slack = sum(
        1
        for r in rows
        if r.channel == "slack" and r.fingerprint not in acked and r.status == "delivered"
    )
    storm_messages = len(slack_ok) - own_slack
    print()
    print("what the vendors saw")
    print_table(
        ["measure", "value"],
        [
            ["PagerDuty events accepted", len(pd_times)],
            ["PagerDuty requests (all answers)", pd_requests],
            ["PagerDuty 429s", len(pd_429_times)],
            ["PagerDuty max accepted / 60 s window", pd_max],
            ["  window starts at t s", f"{pd_at - t0:.0f}" if pd_times else "n/a"],
            ["PagerDuty max accepted / 1 s window", pd_max_1s],
            ["  window starts at t s", f"{pd_at_1s - t0:.0f}" if pd_times else "n/a"],
            ["PagerDuty duplicate pages of one alert (same dedup_key)", duplicates],
            ["Slack chat.postMessage requests (all answers)", slack_requests],
            ["Slack messages posted", len(slack_ok)],
            ["Slack 429s", len(slack_429)],
            ["Slack other errors (ok: false)", len(slack_errors)],
            ["Slack max messages / 1 s window", slack_max],
            ["  window starts at t s", f"{slack_at - t0:.0f}" if slack_ok else "n/a"],
            [
                "Slack benchmark alerts per message (mean)",
                f"{len(delivered['slack']) / storm_messages:.1f}" if storm_messages else "n/a",
            ],
        ],
    )
    if slack_errors:
        print(f"Slack errors: {sorted({str(e) for e in slack_errors})}")

    # -- the webhook
    print()
    print("the webhook during the storm")
    print_table(
        ["POSTs sent", "answered 200", "other", "ack p50 ms", "ack p99 ms", "ack max ms"],
        [
            [
                len(sent),
                len(acks),
                len(sent) - len(acks),
                ms(percentile(acks, 50)),
                ms(percentile(acks, 99)),
                ms(max(acks, default=math.nan)),
            ]
        ],
    )

    # -- memory
    print()
    print("bridge processes (peak RSS = VmHWM from /proc/<pid>/status, sampled every second)")
    proc_rows = [
        [pid, p.name, f"{p.hwm_kib / KIB:.1f}", f"{p.rss_kib / KIB:.1f}", f"{p.cpu_s:.1f}"]
        for pid, p in sorted(procs.items())
    ]
    proc_rows.append(
        [
            "all",
            "sum",
            f"{sum(p.hwm_kib for p in procs.values()) / KIB:.1f}",
            f"{sum(p.rss_kib for p in procs.values()) / KIB:.1f}",
            f"{sum(p.cpu_s for p in procs.values()):.1f}",
        ]
    )
    print_table(["pid", "process", "peak RSS MiB", "last RSS MiB", "CPU s"], proc_rows)
    print(
        "The sum of peaks is an upper bound of the bridge's peak footprint (the peaks need "
        "not coincide); RSS counts shared pages in each process."
    )
    print(machine_line())


def recent_rate(
    snapshots: list[Snapshot], channel: str, window: float = RECENT_WINDOW_S
) -> tuple[float, float]:
    """Deliveries per second of `channel` over (about) the last `window` seconds, and the
    span actually used (timeline snapshots are `--timeline` seconds apart)."""
    if len(snapshots) < 2:
        return 0.0, 0.0
    last = snapshots[-1]
    first = next((s for s in snapshots if s.at >= last.at - window), snapshots[0])
    span = last.at - first.at
    if span <= 0:
        return 0.0, 0.0
    done = last.rows(channel, "delivered") - first.rows(channel, "delivered")
    return max(0.0, done / span), span


if __name__ == "__main__":
    raise SystemExit(main())
