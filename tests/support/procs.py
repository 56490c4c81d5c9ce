"""Real processes for integration and end-to-end tests: Prometheus, Alertmanager, the simulator.

Every `start_*` returns a `Proc` once the process answers its readiness endpoint. Use it as a
context manager (or call `stop()` from a fixture): it terminates the process, and when the
block fails or the process died on its own, prints the process's log so the test report shows
why. Waiting is always polling with a timeout (`wait_until`, `wait_http`), never a fixed sleep.

    with start_simulator(tmp_path) as sim, start_prometheus(cfg_dir, tmp_path, free_port()) as prom:
        sim.inject("dgx-spark-01", "overheat", value=92)
        wait_until(lambda: prom_query(prom.url, "ALERTS"), timeout=60, what="alerts", procs=[prom])
"""

from __future__ import annotations

import http.server
import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

import pytest
import requests
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 80

T = TypeVar("T")


class ProcessDiedError(RuntimeError):
    pass


def require_binary(name: str) -> str:
    """Path of an installed binary, or skip the test (the Debian packages may be absent)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (Debian package prometheus / prometheus-alertmanager)"
        )
    return path


# -- ports -------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago.

    Prometheus and Alertmanager cannot be told to pick their own port and report it, so a
    small race with other processes remains; the OS hands out ports in rotation, which
    makes a clash between two calls in a row unlikely.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- waiting -----------------------------------------------------------------------------------


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    procs: Iterable[Proc] = (),
) -> T:
    """Poll `probe` until it returns something truthy, and return that.

    Exceptions from the probe count as "not yet" (the server may still be starting); the last
    one is reported on timeout, with the log tails of `procs`. A process in `procs` that exits
    fails the wait at once instead of letting it run into the timeout.
    """
    procs = list(procs)
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        for proc in procs:
            proc.check_alive()
        try:
            result = probe()
            if result:
                return result
            last = result
        except Exception as exc:  # any failure means "not yet"
            last = exc
        if time.monotonic() >= deadline:
            logs = "".join(proc.describe() for proc in procs)
            raise TimeoutError(
                f"timed out after {timeout:g}s waiting for {what}; last: {last!r}{logs}"
            )
        time.sleep(interval)


def wait_http(
    url: str, timeout: float = 30.0, proc: Proc | None = None, status: int = 200
) -> requests.Response:
    """GET `url` until it answers `status`; fails early when `proc` exits."""

    def probe() -> list[requests.Response]:
        # In a list: a Response is falsy when its status is 4xx/5xx, even the awaited one.
        response = requests.get(url, timeout=2)
        return [response] if response.status_code == status else []

    what = f"{url} to answer {status}"
    return wait_until(probe, timeout=timeout, what=what, procs=[proc] if proc else [])[0]


# -- process handle ----------------------------------------------------------------------------


@dataclass
class Proc:
    """A started process, its log file, and the base URL it serves."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str
    _log_file: Any = field(default=None, repr=False)

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def describe(self) -> str:
        state = "running" if self.alive else f"exited with {self.popen.returncode}"
        return f"\n--- {self.name} ({state}), last lines of {self.log_path} ---\n{self.log()}\n"

    def dump_log(self) -> None:
        # stderr: pytest shows it in the report of the test that failed.
        print(self.describe(), file=sys.stderr)

    def check_alive(self) -> None:
        if not self.alive:
            raise ProcessDiedError(f"{self.name} exited unexpectedly{self.describe()}")

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate (then kill); dump the log when the process had died on its own."""
        if self.popen.poll() is not None:
            if self.popen.returncode != 0:
                self.dump_log()
        else:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            self.dump_log()
        self.stop()


P = TypeVar("P", bound=Proc)


def _spawn(cls: type[P], name: str, argv: Sequence[str], tmp_path: Path, url: str) -> P:
    log_path = tmp_path / f"{name}.log"
    log_file = log_path.open("wb")
    popen = subprocess.Popen(
        list(argv),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    return cls(name=name, popen=popen, log_path=log_path, url=url, _log_file=log_file)


def _ready(proc: P, path: str, timeout: float) -> P:
    try:
        wait_http(proc.url + path, timeout=timeout, proc=proc)
    except BaseException:
        proc.dump_log()
        proc.stop()
        raise
    return proc


# -- Prometheus --------------------------------------------------------------------------------


def start_prometheus(
    config_dir: Path,
    tmp_path: Path,
    port: int,
    extra_args: Sequence[str] = (),
    *,
    name: str = "prometheus",
    timeout: float = 60.0,
) -> Proc:
    """Prometheus on 127.0.0.1:`port` with `config_dir/prometheus.yml`; ready when /-/ready is 200.

    The lifecycle API is on, so a test can POST /-/reload after rewriting a rule file.
    """
    binary = require_binary("prometheus")
    data = tmp_path / f"{name}-data"
    argv = [
        binary,
        f"--config.file={config_dir / 'prometheus.yml'}",
        f"--storage.tsdb.path={data}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--web.enable-lifecycle",
        "--storage.tsdb.retention.time=2h",
        *extra_args,
    ]
    proc = _spawn(Proc, name, argv, tmp_path, f"http://127.0.0.1:{port}")
    return _ready(proc, "/-/ready", timeout)


def prom_query(base_url: str, expr: str, timeout: float = 10.0) -> dict[str, Any]:
    """The `data` of an instant query; raises on HTTP errors or status != success."""
    response = requests.get(f"{base_url}/api/v1/query", params={"query": expr}, timeout=timeout)
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("status") != "success":
        raise AssertionError(f"query {expr!r} failed: {response.status_code} {body}")
    data: dict[str, Any] = body["data"]
    return data


def prom_alerts(base_url: str) -> list[dict[str, Any]]:
    """Alerts Prometheus holds right now (pending and firing)."""
    response = requests.get(f"{base_url}/api/v1/alerts", timeout=10)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()["data"]["alerts"]
    return alerts


# -- Alertmanager ------------------------------------------------------------------------------


def start_alertmanager(
    config_file: Path,
    tmp_path: Path,
    port: int,
    cluster_peers: Sequence[int | str] | None = None,
    cluster_port: int | None = None,
    extra_args: Sequence[str] = (),
    *,
    name: str = "alertmanager",
    timeout: float = 60.0,
) -> Proc:
    """Alertmanager (`prometheus-alertmanager`, Debian's name) on 127.0.0.1:`port`.

    Without `cluster_port` clustering is off (an empty --cluster.listen-address): a lone
    instance otherwise waits for gossip to settle before sending anything. For an HA pair give
    each its own `cluster_port` and the other's port (or host:port) in `cluster_peers`.
    """
    binary = require_binary("prometheus-alertmanager")
    argv = [
        binary,
        f"--config.file={config_file}",
        f"--storage.path={tmp_path / (name + '-data')}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    if cluster_port is None:
        argv.append("--cluster.listen-address=")
    else:
        argv += [
            f"--cluster.listen-address=127.0.0.1:{cluster_port}",
            # Advertise exactly the address the peers dial, rather than letting memberlist
            # pick one from the host's interfaces.
            f"--cluster.advertise-address=127.0.0.1:{cluster_port}",
        ]
        for peer in cluster_peers or ():
            address = f"127.0.0.1:{peer}" if isinstance(peer, int) else peer
            argv.append(f"--cluster.peer={address}")
    argv += list(extra_args)
    proc = _spawn(Proc, name, argv, tmp_path, f"http://127.0.0.1:{port}")
    return _ready(proc, "/-/ready", timeout)


def am_alerts(base_url: str, **filters: str) -> list[dict[str, Any]]:
    """Alerts Alertmanager holds (API v2), filtered by exact label values."""
    params = [("filter", f'{key}="{value}"') for key, value in filters.items()]
    response = requests.get(f"{base_url}/api/v2/alerts", params=params, timeout=10)
    response.raise_for_status()
    alerts: list[dict[str, Any]] = response.json()
    return alerts


# -- the simulator -----------------------------------------------------------------------------


class SimulatorProc(Proc):
    """`python -m bridge.sim` plus typed helpers for its control API (`url` is that API)."""

    def inject(self, node: str, fault: str, **params: object) -> dict[str, Any]:
        body = {"node": node, "fault": fault, **params}
        response = requests.post(f"{self.url}/faults", json=body, timeout=10)
        if response.status_code != 201:
            raise AssertionError(f"inject {body} failed: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    def clear(self, node: str | None = None, fault: str | None = None) -> int:
        params = {k: v for k, v in (("node", node), ("fault", fault)) if v is not None}
        response = requests.delete(f"{self.url}/faults", params=params, timeout=10)
        response.raise_for_status()
        cleared: int = response.json()["cleared"]
        return cleared

    def faults(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = requests.get(f"{self.url}/faults", timeout=10).json()[
            "faults"
        ]
        return faults

    def nodes(self) -> list[dict[str, Any]]:
        nodes: list[dict[str, Any]] = requests.get(f"{self.url}/nodes", timeout=10).json()["nodes"]
        return nodes

    def targets(self) -> dict[str, list[dict[str, Any]]]:
        targets: dict[str, list[dict[str, Any]]] = requests.get(
            f"{self.url}/targets", timeout=10
        ).json()
        return targets


_CONTROL_LINE = re.compile(r"^control API (http://\S+?)/? ", re.MULTILINE)


def start_simulator(
    tmp_path: Path,
    *,
    nodes: int = 2,
    flavours: str = "gb10,datacenter",
    targets_dir: Path | None = None,
    extra_args: Sequence[str] = (),
    name: str = "simulator",
    timeout: float = 30.0,
) -> SimulatorProc:
    """The simulator as a subprocess, every port chosen by the OS (no clash with others).

    Its control API URL is read from the line it prints at start; exporter URLs are in
    `nodes()`, file_sd groups in `targets()`, and in `targets_dir` when given.
    """
    argv = [
        sys.executable,
        "-u",  # unbuffered: the control API line must reach the log at once
        "-m",
        "bridge.sim",
        f"--nodes={nodes}",
        f"--flavours={flavours}",
        "--base-port=0",
        "--control-port=0",
    ]
    if targets_dir is not None:
        argv.append(f"--write-targets={targets_dir}")
    argv += list(extra_args)
    proc = _spawn(SimulatorProc, name, argv, tmp_path, url="")

    def control_url() -> str | None:
        match = _CONTROL_LINE.search(proc.log_path.read_text(errors="replace"))
        return match.group(1) if match else None

    try:
        proc.url = wait_until(
            control_url, timeout=timeout, what="the simulator's control API line", procs=[proc]
        )
    except BaseException:
        proc.stop()
        raise
    return _ready(proc, "/healthz", timeout)


# -- a webhook receiver ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when the body is not JSON


class WebhookRecorder:
    """A threaded HTTP server in the test process that records every POST and answers 200.

    It stands in for the bridge (or PagerDuty/Slack) where a test only needs to see what
    Alertmanager sends. Set `status` to make it fail (Alertmanager retries 5xx). GET /metrics
    serves `metrics_text`, so Prometheus can scrape it as the `alert-bridge` job and
    AlertBridgeDown stays quiet.
    """

    def __init__(self, metrics_text: str = "alert_bridge_outbox_depth 0\n") -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.metrics_text = metrics_text
        self.status = 200  # what POSTs are answered with
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", errors="replace")
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw
                with recorder._lock:
                    recorder._received.append(Received(self.path, dict(self.headers), body))
                self._reply(recorder.status, b'{"status":"ok"}\n', "application/json")

            def do_GET(self) -> None:
                if self.path == "/metrics":
                    self._reply(200, recorder.metrics_text.encode(), "text/plain; version=0.0.4")
                else:
                    self._reply(404, b"not found\n", "text/plain")

            def _reply(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def received(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def alerts(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every Alertmanager webhook payload received (on `path`)."""
        out: list[dict[str, Any]] = []
        for request in self.received(path):
            if isinstance(request.body, dict):
                out += [
                    {**a, "_receiver": request.body.get("receiver")}
                    for a in request.body.get("alerts", [])
                ]
        return out

    def start(self) -> WebhookRecorder:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookRecorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- test copies of the project's own configuration --------------------------------------------
#
# Tests run the repository's prometheus.yml, rules and alertmanager.yml, not hand-written
# stand-ins. These helpers copy them and change only what a test must: addresses (compose
# service names do not resolve here), intervals and `for:` durations (minutes are too slow),
# secrets (files that only exist in deployment).

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
ALERTMANAGER_CONFIG = REPO_ROOT / "alertmanager" / "alertmanager.yml"
TEST_WEBHOOK_TOKEN = "test-webhook-token"


def _load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _dump_yaml(path: Path, data: Any) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def prometheus_test_config(
    dest_dir: Path,
    targets_dir: Path,
    *,
    prometheus_port: int,
    alertmanager_ports: Sequence[int],
    static_targets: dict[str, str] | None = None,
    interval: str = "1s",
    rule_for: str = "5s",
    src_dir: Path = PROMETHEUS_DIR,
) -> Path:
    """Copy `prometheus/` to `dest_dir`, ready to scrape the simulator; returns `dest_dir`.

    - `targets/` is replaced by `targets_dir` (the simulator's `--write-targets`);
    - scrape and evaluation intervals become `interval`, every `for:` becomes `rule_for`
      (range windows such as `[10m]` stay: they only need enough history, not wall time);
    - Alertmanager is `alertmanager_ports` on 127.0.0.1;
    - static jobs are pointed at `static_targets[job]` ("host:port"); the `prometheus` and
      `alertmanager` jobs default to the test instances; any other static job is dropped,
      as its compose host name does not resolve here.
    """
    shutil.copytree(src_dir, dest_dir, ignore=shutil.ignore_patterns("targets", "tests"))
    shutil.copytree(targets_dir, dest_dir / "targets")
    addresses = {
        "prometheus": f"127.0.0.1:{prometheus_port}",
        "alertmanager": f"127.0.0.1:{alertmanager_ports[0]}",
        **(static_targets or {}),
    }

    config_path = dest_dir / "prometheus.yml"
    config = _load_yaml(config_path)
    glob = config.setdefault("global", {})
    glob.update(scrape_interval=interval, evaluation_interval=interval, scrape_timeout=interval)
    config["alerting"] = {
        "alertmanagers": [
            {"static_configs": [{"targets": [f"127.0.0.1:{p}" for p in alertmanager_ports]}]}
        ]
    }
    jobs = []
    for job in config.get("scrape_configs", []):
        for key in ("scrape_interval", "scrape_timeout"):
            if key in job:
                job[key] = interval
        if "static_configs" in job:
            address = addresses.get(job["job_name"])
            if address is None:
                continue
            job["static_configs"] = [{"targets": [address]}]
        jobs.append(job)
    config["scrape_configs"] = jobs
    _dump_yaml(config_path, config)

    for rule_file in (dest_dir / "rules").glob("*.yml"):
        rules = _load_yaml(rule_file)
        for group in rules.get("groups", []):
            if "interval" in group:
                group["interval"] = interval
            for rule in group.get("rules", []):
                if "for" in rule:
                    rule["for"] = rule_for
                if "keep_firing_for" in rule:
                    rule["keep_firing_for"] = interval
        _dump_yaml(rule_file, rules)
    return dest_dir


@dataclass(frozen=True)
class AlertmanagerTestConfig:
    path: Path
    token: str  # what Alertmanager sends as `Authorization: Bearer ...` to webhooks


def alertmanager_test_config(
    dest_dir: Path,
    *,
    webhook_base_url: str,
    token: str = TEST_WEBHOOK_TOKEN,
    group_wait: str = "1s",
    group_interval: str = "2s",
    repeat_interval: str | None = None,
    src_file: Path = ALERTMANAGER_CONFIG,
) -> AlertmanagerTestConfig:
    """Copy `alertmanager/` to `dest_dir` with every outbound URL sent to `webhook_base_url`.

    Webhook URLs keep their path (`/webhook/alertmanager` still reaches a real bridge);
    PagerDuty and Slack receivers post to `<base>/pagerduty/<receiver>` and
    `<base>/slack/<receiver>`. Every `*_file` secret is replaced by a file in `dest_dir`
    (bearer credentials hold `token`), and group timings are shortened on every route.
    """
    shutil.copytree(src_file.parent, dest_dir, ignore=shutil.ignore_patterns("tests"))
    config_path = dest_dir / src_file.name
    config = _load_yaml(config_path)
    secrets = dest_dir / "secrets"
    secrets.mkdir(exist_ok=True)
    base = webhook_base_url.rstrip("/")

    def secret(name: str, content: str) -> str:
        path = secrets / name
        path.write_text(content, encoding="utf-8")
        return str(path)

    glob = config.setdefault("global", {})
    for key in list(glob):
        if key.endswith("_url"):
            glob[key] = f"{base}/{key}"
        elif key.endswith("_file"):
            url_secret = key.removesuffix("_file").endswith("_url")
            glob[key] = secret(f"global-{key}", f"{base}/{key}" if url_secret else token)

    for receiver in config.get("receivers", []):
        name = receiver["name"]
        for kind, entries in receiver.items():
            if not kind.endswith("_configs"):
                continue
            for index, entry in enumerate(entries):
                _redirect_receiver(entry, kind, name, base, token, f"{name}-{kind}-{index}", secret)

    def shorten(route: dict[str, Any], root: bool) -> None:
        if root or "group_wait" in route:
            route["group_wait"] = group_wait
        if root or "group_interval" in route:
            route["group_interval"] = group_interval
        if repeat_interval is not None and (root or "repeat_interval" in route):
            route["repeat_interval"] = repeat_interval
        for child in route.get("routes", []):
            shorten(child, root=False)

    shorten(config["route"], root=True)
    _dump_yaml(config_path, config)
    return AlertmanagerTestConfig(config_path, token)


def _redirect_receiver(
    entry: dict[str, Any],
    kind: str,
    receiver: str,
    base: str,
    token: str,
    tag: str,
    secret: Callable[[str, str], str],
) -> None:
    if kind == "webhook_configs":
        path = urlsplit(entry.get("url", "")).path or "/"
        entry["url"] = f"{base}{path}"
        entry.pop("url_file", None)
    else:
        # PagerDuty's `url` and Slack's `api_url` are their API endpoints.
        key = "api_url" if kind == "slack_configs" or "api_url" in entry else "url"
        entry[key] = f"{base}/{kind.removesuffix('_configs')}/{receiver}"
        entry.pop(f"{key}_file", None)
    for key in list(entry):
        if key.endswith("_file"):
            entry[key] = secret(f"{tag}-{key}", token)
    http_config = entry.get("http_config")
    if not isinstance(http_config, dict):
        return
    http_config.pop("tls_config", None)  # the test receivers speak plain HTTP
    for auth_key in ("authorization", "basic_auth", "oauth2"):
        auth = http_config.get(auth_key)
        if isinstance(auth, dict):
            for key in list(auth):
                if key.endswith("_file"):
                    auth[key] = secret(f"{tag}-{auth_key}-{key}", token)
