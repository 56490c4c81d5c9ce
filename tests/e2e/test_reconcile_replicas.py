"""Two bridge replicas on one PostgreSQL, both reconciling with the same Alertmanager every
second (issue 21): one round at a time across replicas, and each resolve a reconcile makes
reaches PagerDuty once, also when it races Alertmanager's own webhook resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest_ha import (
    TestAlert,
    alertmanager_config,
    assert_one_page_per_alert,
    live_env,
    migrated_engine,
    node_name,
    pagerduty_replica_fixture,  # noqa: F401
    pg_url_fixture,  # noqa: F401
    replica_ca_fixture,  # noqa: F401
    slack_replica_fixture,  # noqa: F401
)
from tests.e2e.reconcile_support import (
    INTERVAL,
    WAIT,
    all_rounds,
    am_fingerprint,
    am_silence,
    bridge_alert,
    pd_actions,
    post_alerts,
    wait_paged_on,
)
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.bridge_proc import start_bridge
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, wait_until
from tests.support.stack_procs import start_alertmanager

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

STARTED = datetime.now(UTC) - timedelta(minutes=3)


def test_each_reconcile_resolve_reaches_pagerduty_once_from_two_replicas(
    tmp_path: Path,
    pg_url: str,
    pagerduty_replica: FakePagerDuty,
    slack_replica: FakeSlack,
    replica_ca: TestCA,
    peer_versions: PeerVersions,
) -> None:
    engine = migrated_engine(pg_url)
    am_port = free_port()
    am_url = f"http://127.0.0.1:{am_port}"
    env = live_env(
        tmp_path,
        pg_url,
        pagerduty_replica,
        slack_replica,
        replica_ca,
        BRIDGE_ALERTMANAGER_URL=am_url,
        BRIDGE_RECONCILE_INTERVAL=INTERVAL,
        BRIDGE_RECONCILE_GRACE="2s",
    )
    procs: list[Proc] = []
    try:
        bridges = [start_bridge(tmp_path, env, name=f"bridge-{n}") for n in ("a", "b")]
        procs += bridges
        # Each replica gets every webhook, as in an HA deployment without a load balancer.
        config = alertmanager_config(tmp_path / "alertmanager.yml", [b.url for b in bridges])
        procs.append(start_alertmanager(config, tmp_path, am_port, peers=peer_versions))
        muted = [
            TestAlert(name="GPUTemperatureCritical", node=node_name(n), starts_at=STARTED)
            for n in (11, 12, 13)
        ]
        # Not muted: its resolve comes by webhook too, racing the reconcile's.
        plain = TestAlert(name="GPUXIDError", node=node_name(14), starts_at=STARTED)
        post_alerts([am_url], [*muted, plain])
        fingerprints = {a.key: am_fingerprint(am_url, a) for a in [*muted, plain]}
        for fingerprint in fingerprints.values():
            wait_paged_on(pagerduty_replica, fingerprint, bridges)
        for alert in muted:
            am_silence(am_url, alert.node)
        for alert in muted:
            wait_until(
                lambda fp=fingerprints[alert.key]: (
                    ((bridge_alert(bridges[0].url, fp) or {}).get("alertmanager") or {}).get(
                        "muted"
                    )
                    == "silenced"
                ),
                timeout=WAIT,
                what=f"{alert.key} seen silenced",
                procs=procs,
            )
        post_alerts([am_url], [*muted, plain], resolved=True)

        def all_resolved() -> bool:
            return all(
                "resolve" in pd_actions(pagerduty_replica, fp) for fp in fingerprints.values()
            )

        wait_until(all_resolved, timeout=WAIT, what="every alert resolved", procs=procs)

        # More rounds (whichever replica holds the lease runs each), and Alertmanager's
        # re-sends: nothing more may arrive.
        def total() -> float:
            return sum(all_rounds(b.url) for b in bridges)

        before = total()
        wait_until(lambda: total() >= before + 3, timeout=WAIT, what="3 more rounds", procs=procs)
        assert_one_page_per_alert(pagerduty_replica, list(fingerprints.values()), resolved=True)
        for alert in muted:
            entry = bridge_alert(bridges[1].url, fingerprints[alert.key])
            assert entry is not None
            assert (
                "resolved while silenced by Alertmanager silence"
                in (entry["alertmanager"]["resolve_reason"])
            )
    finally:
        for proc in procs:
            proc.stop()
        engine.dispose()
