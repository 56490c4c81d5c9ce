"""`make demo` (scripts/demo.py) as a user runs it: a subprocess, its output, its exit."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from scripts.demo import missing_binaries
from tests.support.procs import REPO_ROOT, wait_until
from tests.support.required import missing_tool

pytestmark = pytest.mark.slow

DEMO = REPO_ROOT / "scripts" / "demo.py"
# Start-up, one fault through `for:` and group_wait, delivery: about 20 s on a quiet machine.
SMOKE_TIMEOUT = 180.0
URL_LINE = re.compile(
    r"^\s+(Prometheus|Alertmanager|bridge|simulator control)\s+(http://\S+)", re.MULTILINE
)


@pytest.fixture(autouse=True)
def _binaries() -> None:
    missing = missing_binaries()
    if missing:
        missing_tool(f"not installed: {', '.join(missing)} (Debian packages)")


def printed_urls(output: str) -> dict[str, str]:
    """The service URLs the demo prints, by name ("Prometheus", "bridge", ...)."""
    return {name: url for name, url in URL_LINE.findall(output)}


def refuses_connections(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


def test_smoke_mode_takes_one_fault_to_a_delivery_and_exits_0() -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO), "--smoke"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT + 60,
    )
    out = result.stdout
    assert result.returncode == 0, f"stdout:\n{out}\nstderr:\n{result.stderr}"

    urls = printed_urls(out)
    assert set(urls) == {"Prometheus", "Alertmanager", "bridge", "simulator control"}, out
    assert urls["bridge"].endswith("/alerts")
    assert re.search(r"curl -X POST http://127\.0\.0\.1:\d+/faults .*dgx-spark-01.*overheat", out)
    # The fault flowed through: one line per delivery, then the verdict.
    assert re.search(r"pagerduty\s+trigger\s+dry_run\s+GPUTemperatureCritical on dgx-spark-01", out)
    assert "smoke test passed: GPUTemperatureCritical on dgx-spark-01" in out
    # Everything it started is gone, and so is its temporary directory.
    assert [name for name, url in urls.items() if not refuses_connections(url)] == []
    workdir = re.search(r"starting the stack in (\S+) \.\.\.", out)
    assert workdir and not Path(workdir.group(1)).exists()


class Output:
    """A child's stdout, read line by line in the background so a test can wait for a line."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert popen.stdout is not None
        self._stdout = popen.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_everything_the_demo_started(stop: signal.Signals, tmp_path: Path) -> None:
    popen = subprocess.Popen(
        [sys.executable, str(DEMO), "--replicas", "--workdir", str(tmp_path)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = Output(popen)
    try:
        wait_until(
            lambda: "Inject a fault:" in output.text or popen.poll() is not None,
            timeout=90,
            what="the demo to print where to look",
        )
        assert popen.poll() is None, output.text
        assert "PagerDuty replica" in output.text and "Slack replica" in output.text
        urls = printed_urls(output.text)
        assert len(urls) == 4, output.text

        popen.send_signal(stop)
        assert popen.wait(timeout=60) == 0, output.text
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(timeout=10)
    output.join(timeout=5)
    assert "stopping ..." in output.text
    assert [name for name, url in urls.items() if not refuses_connections(url)] == []
