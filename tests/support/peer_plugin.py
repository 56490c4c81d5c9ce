"""pytest side of the version matrix (tests/support/peers.py): the `peer_versions` fixture,
its parametrization over both ends of the range, and the report header naming the versions.

Hooked into the suite by tests/conftest.py. A test (or fixture) that asks for `peer_versions`
runs once per end, its id naming the versions (`test_x[prom3.5.3-am0.33.1]`).
`@pytest.mark.peer_ends("newest")` limits a test to some ends: a test of what changed in the
range and failed on the newest end only, or an expensive one whose real-peer part is
covered elsewhere.
"""

from __future__ import annotations

import pytest

from tests.support.peers import (
    SUPPORTED_RANGE,
    PeerVersions,
    newest,
    oldest,
    peers_dir,
    peers_required,
    supported,
)

ENDS = ("oldest", "newest")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "peer_ends(*ends): run this peer_versions test only on these ends"
    )
    if peers_required() and newest() is None:
        raise pytest.UsageError(
            f"the newest Prometheus/Alertmanager are required here (CI=true or "
            f"BRIDGE_REQUIRE_PEERS=1) but {peers_dir()}/sid has none: run scripts/fetch-peers.sh"
        )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"peer versions, {end.describe()}" for end in supported()]
    found = newest()
    stated = (SUPPORTED_RANGE["prometheus"][1], SUPPORTED_RANGE["alertmanager"][1])
    if found is not None and (found.prometheus, found.alertmanager) != stated:
        # sid moved on: the tests run on what it has now, the README still names the old.
        lines.append(
            "peer versions: the newest differs from the range the README states "
            "(tests/support/peers.py SUPPORTED_RANGE)"
        )
    if found is None:
        lines.append(
            "peer versions, newest: NOT FETCHED, its tests are skipped "
            "(scripts/fetch-peers.sh fetches Debian sid's builds)"
        )
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "peer_versions" not in metafunc.fixturenames:
        return
    wanted: set[str] = set(ENDS)
    for marker in metafunc.definition.iter_markers("peer_ends"):
        unknown = set(marker.args) - set(ENDS)
        if unknown:
            raise pytest.UsageError(f"peer_ends: unknown ends {sorted(unknown)}; use {ENDS}")
        wanted &= set(marker.args)
    ends = [end for end in supported() if end.end in wanted]
    # Module scope: a module-scoped stack fixture that asks for peer_versions starts once per
    # end, and pytest groups the tests of one end together.
    metafunc.parametrize(
        "peer_versions", ends, ids=[end.id for end in ends], indirect=True, scope="module"
    )


# Session scope: any fixture may ask for it, a module-scoped stack included (the value is a
# constant description; the parametrization's own scope groups the tests).
@pytest.fixture(scope="session")
def peer_versions(request: pytest.FixtureRequest) -> PeerVersions:
    """One end of the supported Prometheus/Alertmanager range (parametrized above)."""
    end: PeerVersions = getattr(request, "param", None) or oldest()
    return end
