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


def _codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    raise AssertionError("no VERSION_CODENAME in /etc/os-release")


def _mirror_used(tmp_path: Path, etc: Path) -> str:
    """The mirror the script chose, read from its one line (every fetch fails here)."""
    env = _env(tmp_path / "peers", BRIDGE_PEERS_APT_ETC=str(etc))
    del env["BRIDGE_PEERS_MIRROR"]
    result = run(["bash", str(SCRIPT)], env=env)
    assert result.returncode == 0, describe(result)
    found = re.search(r"package lists from (\S+) ", result.stdout)
    assert found, describe(result)
    return found.group(1)


def test_the_mirror_of_the_machines_release_is_taken_from_deb822_sources(tmp_path: Path) -> None:
    codename, port = _codename(), free_port()
    etc = tmp_path / "apt"
    (etc / "sources.list.d").mkdir(parents=True)
    (etc / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n"
        "# a comment\n"
        f"URIs: http://127.0.0.1:{port}/debian-security\n"
        f"Suites: {codename}-security\n"
        "Components: main\n"
        "\n"
        "Types: deb-src\n"
        f"URIs: http://127.0.0.1:{port}/sources-only\n"
        f"Suites: {codename}\n"
        "\n"
        "Types: deb\n"
        f"URIs: http://127.0.0.1:{port}/disabled\n"
        f"Suites: {codename}\n"
        "Enabled: no\n"
        "\n"
        "Types: deb\n"
        f"URIs: http://127.0.0.1:{port}/debian\n"
        f"Suites: {codename} {codename}-updates\n"
        "Components: main\n"
    )
    (etc / "sources.list.d" / "other.list.disabled").write_text(
        f"deb http://127.0.0.1:{port}/not-this {codename} main\n"
    )
    assert _mirror_used(tmp_path, etc) == f"http://127.0.0.1:{port}/debian"


def test_the_mirror_is_taken_from_a_one_line_sources_list_with_options(tmp_path: Path) -> None:
    codename, port = _codename(), free_port()
    etc = tmp_path / "apt"
    etc.mkdir()
    (etc / "sources.list").write_text(
        f"deb http://127.0.0.1:{port}/security {codename}-security main\n"
        f"deb [arch=amd64 signed-by=/k.gpg] http://127.0.0.1:{port}/debian {codename} main\n"
    )
    assert _mirror_used(tmp_path, etc) == f"http://127.0.0.1:{port}/debian"
