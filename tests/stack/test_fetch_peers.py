"""scripts/fetch-peers.sh: the newest Prometheus/Alertmanager for the version matrix.

Run here without the network: an unreachable mirror (a closed local port) stands for an
offline machine, and a prepared cache for an earlier successful fetch.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from tests.stack.helpers import REPO_ROOT, describe, run
from tests.support.procs import free_port

SCRIPT = REPO_ROOT / "scripts" / "fetch-peers.sh"
BINARIES = ("prometheus", "promtool", "prometheus-alertmanager", "amtool")


def _env(peers_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "BRIDGE_REQUIRE_PEERS")}
    return {
        **env,
        "BRIDGE_PEERS_DIR": str(peers_dir),
        # Nothing listens there: every download fails at once, as offline.
        "BRIDGE_PEERS_MIRROR": f"http://127.0.0.1:{free_port()}/debian",
        **extra,
    }


def test_offline_the_newest_end_is_skipped_with_one_line_saying_so(tmp_path: Path) -> None:
    result = run(["bash", str(SCRIPT)], env=_env(tmp_path / "peers"))
    assert result.returncode == 0, describe(result)
    (line,) = result.stdout.splitlines()
    assert "SKIPPED" in line and "newest Prometheus/Alertmanager" in line
    assert result.stderr == ""  # apt's own output went to the log the line names
    assert not (tmp_path / "peers" / "sid").exists()


def test_in_ci_a_failed_fetch_fails(tmp_path: Path) -> None:
    for extra in ({"CI": "true"}, {"BRIDGE_REQUIRE_PEERS": "1"}):
        result = run(["bash", str(SCRIPT)], env=_env(tmp_path / "peers", **extra))
        assert result.returncode != 0, describe(result)
        assert "required here" in result.stderr


def test_a_cached_fetch_is_used_without_the_network(tmp_path: Path) -> None:
    bin_dir = tmp_path / "peers" / "sid" / "usr" / "bin"
    bin_dir.mkdir(parents=True)
    for name in BINARIES:
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\necho '{name}, version 9.9.9'\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "peers" / "sid" / "VERSIONS").write_text(
        "prometheus 9.9.9-1\npromtool 9.9.9-1\nprometheus-alertmanager 0.99.0-1\n"
    )
    result = run(["bash", str(SCRIPT)], env=_env(tmp_path / "peers", CI="true"))
    assert result.returncode == 0, describe(result)
    (line,) = result.stdout.splitlines()
    assert line.startswith("peers: sid cached in ")
    assert "prometheus 9.9.9-1, promtool 9.9.9-1, prometheus-alertmanager 0.99.0-1" in line


def test_the_mirror_is_read_from_the_machine_never_written_in_the_repository() -> None:
    text = SCRIPT.read_text(encoding="utf-8")
    assert not re.search(r"https?://[a-z]", text), "a registry host name in the script"
    assert "/etc/apt/sources.list" in text
    # Its own apt state: the machine's lists, cache and sources are never touched.
    for option in ("Dir::Etc::SourceList", "Dir::State::Lists", "Dir::Cache", "Dir::State::status"):
        assert option in text
    assert "apt-get install" not in text and "dpkg -i" not in text
