"""Running a replica's ``python -m`` entry point as a separate process, like an e2e test."""

from __future__ import annotations

import contextlib
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 15.0


@contextlib.contextmanager
def standalone(module: str, ca_dir: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``python -m module --port 0 --ca-dir DIR``; yield (printed URL, process).

    On exit sends SIGTERM and checks the process stops cleanly.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", "--ca-dir", str(ca_dir), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(STARTUP_TIMEOUT_S):
                raise AssertionError(f"{module} printed no URL within {STARTUP_TIMEOUT_S}s")
        url = process.stdout.readline().strip()
        assert url.startswith("https://127.0.0.1:"), f"unexpected first line {url!r}"
        yield url, process
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
