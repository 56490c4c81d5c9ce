"""The two ends of the supported Prometheus/Alertmanager range that the real-peer tests run on.

- oldest: the machine's own Debian packages on PATH (bookworm: Prometheus 2.42, Alertmanager 0.25);
- newest: Debian sid's builds (Prometheus/promtool 3.5, Alertmanager/amtool 0.33), unpacked by
  scripts/fetch-peers.sh into var/peers/sid/ (BRIDGE_PEERS_DIR moves var/peers).

A test asks for the `peer_versions` fixture (tests/support/peer_plugin.py parametrizes it, one
test per end, the versions in the test id) and hands it to the helpers that start or locate the
binaries: `start_prometheus(..., peers=peer_versions)`, `find_tool("promtool", peer_versions)`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.support.procs import REPO_ROOT

NEWEST_SUITE = "sid"
# The supported range the README states: (oldest, newest tested), per product.
SUPPORTED_RANGE = {
    "prometheus": ((2, 42, 0), (3, 5, 3)),
    "alertmanager": ((0, 25, 0), (0, 33, 1)),
}
# The binaries each end must provide (Debian names: Alertmanager is `prometheus-alertmanager`).
BINARIES = ("prometheus", "promtool", "prometheus-alertmanager", "amtool")
_VERSION = re.compile(r"version (\d+(?:\.\d+)+)")


def peers_dir() -> Path:
    return Path(os.environ.get("BRIDGE_PEERS_DIR") or REPO_ROOT / "var" / "peers")


def peers_required() -> bool:
    """CI must run both ends: a newest end that is missing there is an error, not a skip."""
    return os.environ.get("BRIDGE_REQUIRE_PEERS") == "1" or os.environ.get("CI") == "true"


def _version_of(binary: str | None) -> tuple[int, ...] | None:
    if binary is None:
        return None
    try:
        result = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    # Prometheus prints its version on stdout, Alertmanager (0.25) on stderr.
    match = _VERSION.search(result.stdout + result.stderr)
    return tuple(int(part) for part in match.group(1).split(".")) if match else None


def _dotted(version: tuple[int, ...] | None) -> str:
    return ".".join(map(str, version)) if version else "missing"


@dataclass(frozen=True)
class PeerVersions:
    """One end of the range: where its binaries are and which versions they are."""

    end: str  # "oldest" or "newest"
    bin_dir: Path | None  # None: the machine's PATH
    prometheus: tuple[int, ...] | None  # None: not installed
    alertmanager: tuple[int, ...] | None

    @property
    def id(self) -> str:
        """The test-id part, e.g. `prom2.42.0-am0.25.0`: a report names the versions."""
        return f"prom{_dotted(self.prometheus)}-am{_dotted(self.alertmanager)}"

    def describe(self) -> str:
        where = "PATH" if self.bin_dir is None else str(self.bin_dir)
        return (
            f"{self.end}: Prometheus {_dotted(self.prometheus)}, "
            f"Alertmanager {_dotted(self.alertmanager)} ({where})"
        )

    def which(self, name: str) -> str | None:
        """Path of binary `name` of this end, or None when it is not there."""
        if self.bin_dir is None:
            return shutil.which(name)
        candidate = self.bin_dir / name
        return str(candidate) if candidate.is_file() else None

    def prometheus_at_least(self, *version: int) -> bool:
        return self.prometheus is not None and self.prometheus >= version

    def alertmanager_at_least(self, *version: int) -> bool:
        return self.alertmanager is not None and self.alertmanager >= version


def _end(end: str, bin_dir: Path | None) -> PeerVersions:
    probe = PeerVersions(end, bin_dir, None, None)
    return PeerVersions(
        end,
        bin_dir,
        _version_of(probe.which("prometheus")),
        _version_of(probe.which("prometheus-alertmanager")),
    )


@cache
def oldest() -> PeerVersions:
    """The machine's packages (always listed: a missing binary skips the test that needs it,
    as before the matrix existed)."""
    return _end("oldest", None)


@cache
def newest() -> PeerVersions | None:
    """sid's unpacked builds, or None when scripts/fetch-peers.sh has not fetched them."""
    bin_dir = peers_dir() / NEWEST_SUITE / "usr" / "bin"
    if not all((bin_dir / name).is_file() for name in BINARIES):
        return None
    return _end("newest", bin_dir)


def supported() -> list[PeerVersions]:
    """The ends available here, oldest first."""
    found = newest()
    return [oldest()] if found is None else [oldest(), found]
