"""The demo's stack (scripts/demo.py), started once per module and end of the supported
Prometheus/Alertmanager range for the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scripts.demo import Stack, StackOptions, missing_binaries, running_stack, wait_until_scraped
from tests.support.peers import PeerVersions
from tests.support.required import missing_tool

# Six nodes, so each fault gets a node of its own and the faults can run at the same time:
# the waits for `for:`, group_wait and delivery overlap instead of adding up. The simulator
# assigns flavours cyclically: odd nodes are GB10, even ones datacenter GPUs.
E2E_NODES = 6
# Alertmanager re-sends every firing group this often. Production waits 1 h or more; a
# few seconds let a test watch repeats arrive and prove they page nobody.
REPEAT_INTERVAL = "5s"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, peer_versions: PeerVersions) -> Iterator[Stack]:
    """Simulator, Prometheus and Alertmanager on the project's files, and one bridge on SQLite
    sending to the PagerDuty and Slack replicas, scraped and ready for faults."""
    missing = missing_binaries(peer_versions)
    if missing:
        missing_tool(f"not installed: {', '.join(missing)} (Debian packages)")
    options = StackOptions(
        nodes=E2E_NODES,
        replicas=True,
        repeat_interval=REPEAT_INTERVAL,
        peers=peer_versions,
    )
    with running_stack(tmp_path_factory.mktemp("e2e"), options) as running:
        wait_until_scraped(running)
        yield running
