"""Real processes for tests: the process handle, free ports and waiting.

Every `start_*` (stack_procs: Prometheus, Alertmanager, the simulator; bridge_proc: the bridge)
returns a `Proc` once the process answers its readiness endpoint. Use it as a context manager
(or call `stop()` from a fixture): it terminates the process, and when the block fails or the
process died on its own, prints the process's log so the test report shows why. Waiting is
always polling with a timeout (`wait_until`, `wait_http`), never a fixed sleep.

    with start_simulator(tmp_path) as sim, start_prometheus(cfg_dir, tmp_path, free_port()) as prom:
        sim.inject("dgx-spark-01", "overheat", value=92)
        wait_until(lambda: prom_query(prom.url, "ALERTS"), timeout=60, what="alerts", procs=[prom])
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

import requests

from tests.support.required import missing_tool

if TYPE_CHECKING:
    from tests.support.peers import PeerVersions

REPO_ROOT = Path(__file__).resolve().parents[2]
LOG_TAIL_LINES = 80

T = TypeVar("T")


class ProcessDiedError(RuntimeError):
    pass


def require_binary(name: str, peers: PeerVersions | None = None) -> str:
    """Path of a binary of `peers` (default: the machine's), or skip the test (the Debian
    packages may be absent)."""
    path = shutil.which(name) if peers is None else peers.which(name)
    if path is None:
        where = "" if peers is None else f" in {peers.describe()}"
        missing_tool(
            f"{name} is not installed{where} (Debian package prometheus / prometheus-alertmanager)"
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


def spawn(cls: type[P], name: str, argv: Sequence[str], tmp_path: Path, url: str) -> P:
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


def ready(proc: P, path: str, timeout: float) -> P:
    try:
        wait_http(proc.url + path, timeout=timeout, proc=proc)
    except BaseException:
        proc.dump_log()
        proc.stop()
        raise
    return proc
