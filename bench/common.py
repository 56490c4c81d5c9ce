"""What the benchmarks share: a real `alert-bridge serve`, payloads, load loops, statistics.

Everything here talks to 127.0.0.1 only, and everything started here is stopped by the
context manager that started it. Benchmarks print numbers; they never pass or fail.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # The scripts run as `python bench/<name>.py`; the bridge's test helpers live in `tests/`.
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.bridge_proc import start_bridge  # noqa: E402
from tests.support.payloads import alert, payload  # noqa: E402
from tests.support.procs import Proc  # noqa: E402

JSON_HEADERS = {"Content-Type": "application/json"}
WEBHOOK_PATH = "/webhook/alertmanager"
LOCAL_HOSTS = ("127.0.0.1", "localhost")
REQUEST_TIMEOUT_S = 30.0
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the bridge under test ---------------------------------------------------------------


def check_database_url(url: str | None) -> str | None:
    """Refuse anything but SQLite and a PostgreSQL on this machine (the schema is dropped)."""
    if url is None or url.startswith("sqlite"):
        return url
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"--database-url: only sqlite and postgresql are supported, not {url!r}")
    if parsed.host not in LOCAL_HOSTS:
        raise SystemExit(f"--database-url: the host must be one of {LOCAL_HOSTS}")
    return url


def reset_postgres(url: str) -> None:
    """Drop and recreate schema `public`: every run starts from an empty database."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


def redact(url: str) -> str:
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


@dataclass
class Bridge:
    """A running `alert-bridge serve` and where it keeps its things."""

    proc: Proc
    state_dir: Path
    database_url: str

    @property
    def url(self) -> str:
        return self.proc.url

    @property
    def webhook_url(self) -> str:
        return self.proc.url + WEBHOOK_PATH

    @property
    def pid(self) -> int:
        return self.proc.popen.pid

    def cpu_seconds(self) -> float:
        """User + system CPU the bridge process has used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3, utime 14 and stime 15 (1-based).
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    def outbox_depth(self) -> dict[str, int]:
        """`alert_bridge_outbox_depth` from /metrics, by status."""
        text = requests.get(self.url + "/metrics", timeout=REQUEST_TIMEOUT_S).text
        pattern = r'^alert_bridge_outbox_depth\{status="(\w+)"\} ([0-9.e+]+)$'
        return {m[1]: int(float(m[2])) for m in re.finditer(pattern, text, re.MULTILINE)}


@contextlib.contextmanager
def running_bridge(
    *,
    database_url: str | None = None,
    env: dict[str, str] | None = None,
    log_level: str = "INFO",
    name: str = "bridge",
) -> Iterator[Bridge]:
    """Start `python -m bridge serve` on a free 127.0.0.1 port; SIGTERM it on exit.

    Without `database_url` the bridge uses its default, SQLite in its state directory (a
    fresh temporary directory). A PostgreSQL URL has its schema `public` dropped first.
    """
    workdir = Path(tempfile.mkdtemp(prefix="bridge-bench-"))
    state_dir = workdir / "state"
    proc: Proc | None = None
    try:
        if database_url and not database_url.startswith("sqlite"):
            reset_postgres(database_url)
        child_env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        child_env.update(
            BRIDGE_STATE_DIR=str(state_dir),
            BRIDGE_LOG_LEVEL=log_level,
            **(env or {}),
        )
        if database_url:
            child_env["BRIDGE_DATABASE_URL"] = database_url
        proc = start_bridge(workdir, child_env, name, timeout=STARTUP_TIMEOUT_S)
        try:
            yield Bridge(proc, state_dir, database_url or f"sqlite:///{state_dir / 'bridge.db'}")
        except BaseException:
            print(proc.describe(), file=sys.stderr)
            raise
        proc.check_alive()
    finally:
        if proc is not None:
            proc.stop(timeout=STOP_TIMEOUT_S)  # SIGTERM, then SIGKILL after the timeout
        shutil.rmtree(workdir, ignore_errors=True)


# -- payloads ----------------------------------------------------------------------------

_MARK = "@SEQ@"


class PayloadFactory:
    """Webhook bodies of `size` alerts; `body(seq)` is unique per `seq` and per factory.

    Every alert of a new `seq` has its own fingerprint (and node label), so the bridge
    takes the expensive path: new alert rows, transitions, one outbox row per channel.
    `body(seq)` for a `seq` already sent is a repeat (the cheap duplicate path).
    The JSON is serialised once; a body is a byte substitution, so building one costs
    the client almost nothing next to the request it is timed with.
    """

    def __init__(self, size: int, *, severity: str = "critical", tag: str = "bench") -> None:
        self.size = size
        self.run = f"{tag}-{uuid.uuid4().hex[:8]}"
        alerts = [
            alert(
                "GPUTemperatureCritical",
                severity=severity,
                node=f"dgx-{_MARK}-{i:03d}",
                gpu=str(i % 8),
                fingerprint=f"{self.run}-{_MARK}-{i:03d}",
                bench_run=self.run,
            )
            for i in range(size)
        ]
        self._template = json.dumps(payload(*alerts)).encode()
        self._mark = _MARK.encode()

    def body(self, seq: int) -> bytes:
        return self._template.replace(self._mark, f"{seq:08d}".encode())

    def fingerprints(self, seq: int) -> list[str]:
        return [f"{self.run}-{seq:08d}-{i:03d}" for i in range(self.size)]


# -- statistics and output ---------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float) -> str:
    return "n/a" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def latency_table(rows: Sequence[tuple[str, Sequence[float]]]) -> None:
    """One row per measure: count, p50, p90, p99 and max in milliseconds."""
    print_table(
        ["measure", "count", "p50 ms", "p90 ms", "p99 ms", "max ms"],
        [
            [
                name,
                len(values),
                ms(percentile(values, 50)),
                ms(percentile(values, 90)),
                ms(percentile(values, 99)),
                ms(max(values, default=math.nan)),
            ]
            for name, values in rows
        ],
    )


def _numeric(cell: str) -> bool:
    try:
        float(cell.rstrip("%"))
    except ValueError:
        return cell == "n/a"
    return True


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A Markdown table; columns of numbers are right-aligned, others left-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    right = [all(_numeric(r[i]) for r in cells) for i in range(len(headers))]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if r else v.ljust(w) for v, w, r in zip(values, widths, right, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    print(line(headers))
    rule = ["-" * (w + 1) + (":" if r else "-") for w, r in zip(widths, right, strict=True)]
    print("|" + "|".join(rule) + "|")
    for row in cells:
        print(line(row))
    sys.stdout.flush()


def _git(*args: str) -> str:
    # No optional locks: `git status` must never hold index.lock while someone commits.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(
        ["git", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
        env=env,
    ).stdout.strip()


def code_line() -> str:
    """The commit under test, and whether bridge/ has uncommitted changes (read-only git)."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "bridge", "migrations")
    except (OSError, subprocess.SubprocessError):
        return "code: unknown (no git)"
    return f"code: {head}" + (" + uncommitted changes in bridge/" if dirty else "")


def add_bridge_args(parser: argparse.ArgumentParser, log_level: str = "INFO") -> None:
    """The options of every script that starts its own bridge."""
    parser.add_argument(
        "--database-url",
        type=check_database_url,
        help="SQLAlchemy URL (default: SQLite in a temporary directory). A PostgreSQL "
        "database on 127.0.0.1 has its schema public DROPPED at every bridge start.",
    )
    parser.add_argument("--log-level", default=log_level, help="the bridge's BRIDGE_LOG_LEVEL")


def print_header(database_url: str | None = None) -> None:
    """What was measured where: commit, machine, and the database when the bridge has one."""
    print(code_line())
    print(machine_line())
    print(f"database: {redact(database_url) if database_url else 'SQLite (default)'}")


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"machine: {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        " (benchmark client, bridge and database share these CPUs);"
        f" python {sys.version.split()[0]}"
    )


class CpuMeter:
    """CPU seconds used by the bridge and by this (client) process over a block."""

    def __init__(self, bridge: Bridge) -> None:
        self.bridge = bridge
        self.bridge_s = self.client_s = self.wall_s = 0.0

    @staticmethod
    def _self_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuMeter:
        self._b0, self._c0, self._w0 = (
            self.bridge.cpu_seconds(),
            self._self_cpu(),
            time.monotonic(),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.bridge_s = self.bridge.cpu_seconds() - self._b0
        self.client_s = self._self_cpu() - self._c0
        self.wall_s = time.monotonic() - self._w0

    def percent(self, seconds: float) -> str:
        return f"{100.0 * seconds / self.wall_s:.0f}%" if self.wall_s > 0 else "n/a"


# -- load generators ---------------------------------------------------------------------


UNSENT = -1


@dataclass(frozen=True)
class Sample:
    """One request: when it was due, sent, answered (time.monotonic()), and its status."""

    seq: int
    due: float
    sent: float
    done: float
    status: int  # 0: no HTTP answer (connection error or timeout); UNSENT: given up

    @property
    def latency(self) -> float:
        """From when the request was due (open loop) or sent (closed loop) to the answer."""
        return self.done - self.due


class Poster:
    """POSTs JSON bodies to one URL over one keep-alive connection.

    http.client rather than requests: on two CPUs shared with the bridge, the
    client's own per-request CPU (~1 ms with requests) showed in the latencies it
    measured. Alertmanager's Go client costs far less than either.
    """

    def __init__(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._path = parts.path or "/"
        self._conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> int:
        """The HTTP status, or 0 when no answer came (error or timeout)."""
        try:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(
                    self._host, self._port, timeout=REQUEST_TIMEOUT_S
                )
            self._conn.request("POST", self._path, body, JSON_HEADERS)
            response = self._conn.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self.close()
            return 0

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Poster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Counter:
    """Thread-safe sequence numbers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._it = itertools.count()

    def next(self) -> int:
        with self._lock:
            return next(self._it)


def _run_threads(count: int, target: Callable[[int], None], join_timeout: float) -> None:
    threads = [
        threading.Thread(target=target, args=(i,), name=f"client-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + join_timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        raise RuntimeError(f"client threads still running after {join_timeout:g}s: {stuck}")


def closed_loop(
    url: str,
    body: Callable[[int], bytes],
    *,
    clients: int,
    seconds: float,
    max_requests: int,
    warmup: int = 2,
) -> tuple[list[Sample], float]:
    """`clients` threads, each sending its next request as soon as the last was answered.

    Each thread first sends `warmup` unmeasured requests (connections, caches), then all
    start together. Stops after `seconds` or `max_requests`. Returns samples and the
    measured wall time.
    """
    seq = _Counter()
    barrier = threading.Barrier(clients + 1)
    samples: list[Sample] = []
    lock = threading.Lock()
    stop_at = [math.inf]

    def client(_index: int) -> None:
        with Poster(url) as poster:
            for _ in range(warmup):
                poster.post(body(seq.next()))
            barrier.wait(timeout=STARTUP_TIMEOUT_S)
            mine: list[Sample] = []
            while time.monotonic() < stop_at[0]:
                n = seq.next()
                if n >= max_requests + clients * warmup:
                    break
                data = body(n)
                sent = time.monotonic()
                status = poster.post(data)
                mine.append(Sample(n, sent, sent, time.monotonic(), status))
            with lock:
                samples.extend(mine)

    runner = threading.Thread(
        target=_run_threads,
        args=(clients, client, seconds + STARTUP_TIMEOUT_S + 2 * REQUEST_TIMEOUT_S),
        daemon=True,
    )
    runner.start()
    barrier.wait(timeout=STARTUP_TIMEOUT_S)
    started = time.monotonic()
    stop_at[0] = started + seconds
    runner.join(seconds + STARTUP_TIMEOUT_S + 3 * REQUEST_TIMEOUT_S)
    elapsed = max(s.done for s in samples) - started if samples else time.monotonic() - started
    return samples, elapsed


def open_loop(
    url: str,
    bodies: Sequence[bytes],
    *,
    rate: float,
    threads: int,
    start_delay: float = 0.2,
    grace: float = 30.0,
) -> list[Sample]:
    """Send `bodies[i]` at `t0 + i / rate`, whatever happened to earlier requests.

    A pool of `threads` senders takes the next due request in order, so one slow answer
    does not delay later sends (unless every sender is busy: then the lateness shows in
    the latency, which is measured from the due time, not the send time). Requests not
    sent within `grace` seconds after the last due time are given up: status -1.
    """
    count = len(bodies)
    t0 = time.monotonic() + start_delay
    give_up = t0 + count / rate + grace
    seq = _Counter()
    samples: list[Sample] = []
    lock = threading.Lock()

    def sender(_index: int) -> None:
        mine: list[Sample] = []
        with Poster(url) as poster:
            while (n := seq.next()) < count:
                due = t0 + n / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                sent = time.monotonic()
                if sent > give_up:
                    mine.append(Sample(n, due, math.nan, math.nan, UNSENT))
                    continue
                status = poster.post(bodies[n])
                mine.append(Sample(n, due, sent, time.monotonic(), status))
        with lock:
            samples.extend(mine)

    _run_threads(threads, sender, give_up - time.monotonic() + REQUEST_TIMEOUT_S + 5)
    return sorted(samples, key=lambda s: s.seq)


def warm_up(url: str, body: Callable[[int], bytes], count: int) -> None:
    """A few unmeasured requests (first-request costs: imports, pool connections)."""
    with Poster(url) as poster:
        for n in range(count):
            poster.post(body(n))
