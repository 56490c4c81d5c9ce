"""docker-compose.yml's Prometheus and Alertmanager flags start both ends of the supported range.

Flags come and go between versions (Prometheus 3 dropped several); the compose file runs
versions between the two ends, so each end must start with its flags. Paths and the listen
address are the test's own; every other flag is the compose file's, `${VAR:-default}` taking
its default.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from tests.stack.helpers import COMPOSE_FILE, load_yaml
from tests.support.peers import PeerVersions
from tests.support.procs import free_port
from tests.support.stack_config import alertmanager_test_config
from tests.support.stack_procs import start_alertmanager, start_prometheus
from tests.support.webhook_recorder import WebhookRecorder

pytestmark = pytest.mark.slow

SERVICES = load_yaml(COMPOSE_FILE)["services"]
# Set by start_prometheus / start_alertmanager (to this test's paths and ports).
OWN_FLAGS = {
    "--config.file",
    "--storage.tsdb.path",
    "--storage.path",
    "--web.listen-address",
    "--web.enable-lifecycle",
    "--storage.tsdb.retention.time",
}
_DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")


def compose_flags(service: str) -> list[str]:
    flags = []
    for flag in SERVICES[service]["command"]:
        if flag.split("=", 1)[0] in OWN_FLAGS:
            continue
        flags.append(_DEFAULTED.sub(lambda m: m.group(1), flag))
    assert all("$" not in f for f in flags), flags
    return flags


def test_the_compose_flags_are_the_ones_this_test_passes_on() -> None:
    # Guards the test: it must pass real flags, not an empty list.
    assert "--storage.tsdb.retention.size=50GB" in compose_flags("prometheus")
    assert any(f.startswith("--web.external-url=") for f in compose_flags("alertmanager"))


def test_prometheus_starts_with_the_compose_flags(
    tmp_path: Path, peer_versions: PeerVersions
) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n")
    with start_prometheus(
        config, tmp_path, free_port(), compose_flags("prometheus"), peers=peer_versions
    ) as prom:
        taken = requests.get(f"{prom.url}/api/v1/status/flags", timeout=10).json()["data"]
    flags = dict(f.removeprefix("--").partition("=")[::2] for f in compose_flags("prometheus"))
    assert set(flags) <= set(taken)
    assert taken["web.enable-admin-api"] == "true"
    assert taken["web.external-url"] == flags["web.external-url"]


def test_alertmanager_starts_with_the_compose_flags(
    tmp_path: Path, peer_versions: PeerVersions
) -> None:
    with WebhookRecorder() as recorder:
        config = alertmanager_test_config(tmp_path / "alertmanager", webhook_base_url=recorder.url)
        with start_alertmanager(
            config.path,
            tmp_path,
            free_port(),
            extra_args=compose_flags("alertmanager"),
            peers=peer_versions,
        ) as am:
            assert am.alive
