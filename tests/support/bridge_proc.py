"""A real `alert-bridge serve` process for tests that need signals and restarts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.procs import REPO_ROOT, Proc, free_port, wait_http


def bridge_env(tmp_path: Path, database_url: str, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        {
            "BRIDGE_STATE_DIR": str(tmp_path / "state"),
            "BRIDGE_DATABASE_URL": database_url,
            "BRIDGE_RETRY_BASE": "1s",
            "BRIDGE_RETRY_MAX": "2s",
            "BRIDGE_LOG_LEVEL": "DEBUG",
        }
    )
    env.update(overrides)
    return env


def start_bridge(
    tmp_path: Path, env: dict[str, str], name: str = "bridge", timeout: float = 30.0
) -> Proc:
    """Start `python -m bridge serve` on a free port and wait until it is ready.

    Its output goes to `tmp_path/<name>.log`; on failure the log is printed."""
    port = free_port()
    env = {**env, "BRIDGE_LISTEN": f"127.0.0.1:{port}"}
    log_path = tmp_path / f"{name}.log"
    log_file = log_path.open("ab")
    popen = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve"],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    proc = Proc(name=name, popen=popen, log_path=log_path, url=f"http://127.0.0.1:{port}")
    proc._log_file = log_file
    try:
        wait_http(proc.url + "/readyz", timeout=timeout, proc=proc)
    except BaseException:
        proc.dump_log()
        proc.stop()
        raise
    return proc
