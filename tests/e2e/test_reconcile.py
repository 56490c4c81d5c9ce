"""Reconciliation against a real Alertmanager (issue 21): the resolves it never sends for a
muted alert, the alerts it cuts from a webhook, and no false resolve when it restarts, is
unreachable or only half of an HA pair answers.

Alerts are posted to Alertmanager's API the way Prometheus posts them; Alertmanager runs the
project's alertmanager.yml (routes, inhibitions, receivers) pointed at a real bridge.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from bridge.notify.pagerduty_event import dedup_key
from tests.e2e.conftest_ha import (
    TestAlert,
    node_name,
    pagerduty_replica_fixture,  # noqa: F401
    replica_ca_fixture,  # noqa: F401
    slack_replica_fixture,  # noqa: F401
    sqlite_url_fixture,  # noqa: F401
)
from tests.e2e.reconcile_support import (
    WAIT,
    Live,
    am_fingerprint,
    am_listed,
    am_silence,
    bridge_alert,
    bridge_window,
    live_stack,
    metric,
    pd_actions,
    post_alerts,
    rounds,
    slack_message_of,
    wait_paged,
    wait_rounds,
)
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA
from tests.support.peers import PeerVersions
from tests.support.procs import wait_until

pytestmark = [pytest.mark.slow]

STARTED = datetime.now(UTC) - timedelta(minutes=3)


StartLive = Callable[..., contextlib.AbstractContextManager[Live]]


@pytest.fixture
def start_live(
    tmp_path: Path,
    sqlite_url: str,
    pagerduty_replica: FakePagerDuty,
    slack_replica: FakeSlack,
    replica_ca: TestCA,
    peer_versions: PeerVersions,
) -> StartLive:
    """`live_stack` for this test: its own files, the replicas, this end of the version range
    (the keyword arguments are the stack's options and bridge settings)."""
    return functools.partial(
        live_stack,
        tmp_path,
        sqlite_url,
        pagerduty_replica,
        slack_replica,
        replica_ca,
        peers=peer_versions,
    )


@pytest.fixture
def live(start_live: StartLive) -> Iterator[Live]:
    with start_live() as stack:
        yield stack


def gpu_hot(node: int, name: str = "GPUTemperatureCritical") -> TestAlert:
    return TestAlert(name=name, node=node_name(node), starts_at=STARTED)


def wait_muted_in_bridge(live: Live, fingerprint: str, muted: str) -> dict[str, object]:
    def seen() -> dict[str, object] | None:
        found = bridge_alert(live.bridge.url, fingerprint)
        am = (found or {}).get("alertmanager") or {}
        return am if am.get("muted") == muted else None

    return wait_until(
        seen, timeout=WAIT, what=f"/alerts showing {fingerprint} {muted}", procs=[live.bridge]
    )


def assert_resolved_saying(live: Live, alert: TestAlert, fingerprint: str, words: str) -> None:
    """Resolved in PagerDuty (same dedup_key, once), in Slack (message updated in place and a
    reply in its thread) and in /alerts, each saying why."""

    def resolved() -> bool:
        return pd_actions(live.pagerduty, fingerprint) == ["trigger", "resolve"]

    wait_until(
        resolved, timeout=WAIT, what=f"PagerDuty resolve of {alert.key}", procs=[live.bridge]
    )
    assert live.pagerduty.incident(dedup_key(fingerprint)).status == "resolved"  # type: ignore[union-attr]

    def slack_says() -> bool:
        message = slack_message_of(live.slack, alert)
        replies = [r.text or "" for r in live.slack.replies(message.ts)]
        return bool(live.slack.updates(message.ts)) and any(words in r for r in replies)

    wait_until(slack_says, timeout=WAIT, what="the Slack thread saying why", procs=[live.bridge])
    message = slack_message_of(live.slack, alert)
    assert "RESOLVED" in message.blocks[0]["text"]["text"]  # type: ignore[index]
    assert words in str(message.blocks), "the updated message says why"
    entry = bridge_alert(live.bridge.url, fingerprint)
    assert entry is not None and entry["status"] == "resolved"
    assert words in entry["alertmanager"]["resolve_reason"]


def test_alert_silenced_through_the_bridge_then_resolved_is_resolved_everywhere_saying_why(
    live: Live,
) -> None:
    alert = gpu_hot(1)
    post_alerts(live.am_urls, [alert])
    fingerprint = am_fingerprint(live.am_urls[0], alert)
    wait_paged(live, fingerprint)
    window = bridge_window(live.bridge.url, alert.node)
    shown = wait_muted_in_bridge(live, fingerprint, "silenced")
    assert window in str(shown["muted_by"])
    console = requests.get(f"{live.bridge.url}/", timeout=10).text
    assert f"silenced in Alertmanager by window {window}" in console
    post_alerts(live.am_urls, [alert], resolved=True)  # Alertmanager sends no resolve for it
    assert_resolved_saying(live, alert, fingerprint, f"resolved while silenced by window {window}")


def test_alert_silenced_in_alertmanager_then_resolved_is_resolved_saying_why(live: Live) -> None:
    alert = gpu_hot(2)
    post_alerts(live.am_urls, [alert])
    fingerprint = am_fingerprint(live.am_urls[0], alert)
    wait_paged(live, fingerprint)
    silence = am_silence(live.am_urls[0], alert.node)
    wait_muted_in_bridge(live, fingerprint, "silenced")
    post_alerts(live.am_urls, [alert], resolved=True)
    assert_resolved_saying(
        live, alert, fingerprint, f"resolved while silenced by Alertmanager silence {silence}"
    )


def test_alert_inhibited_by_the_shipped_rules_then_resolved_is_resolved_saying_why(
    live: Live,
) -> None:
    alert = gpu_hot(3)
    post_alerts(live.am_urls, [alert])
    fingerprint = am_fingerprint(live.am_urls[0], alert)
    wait_paged(live, fingerprint)
    # alertmanager.yml: DGXSparkNodeDown inhibits the GPU alerts of its node.
    node_down = TestAlert(name="DGXSparkNodeDown", node=alert.node, starts_at=STARTED)
    post_alerts(live.am_urls, [node_down, alert])
    wait_muted_in_bridge(live, fingerprint, "inhibited")
    post_alerts(live.am_urls, [node_down])
    post_alerts(live.am_urls, [alert], resolved=True)
    assert_resolved_saying(
        live, alert, fingerprint, f"resolved while inhibited by DGXSparkNodeDown on {alert.node}"
    )
    # The inhibiting alert fires on: reconciliation leaves it alone.
    node_down_fp = am_fingerprint(live.am_urls[0], node_down)
    wait_rounds(live, "ok", 3)
    assert "resolve" not in pd_actions(live.pagerduty, node_down_fp)


def test_a_webhook_cut_at_max_alerts_still_pages_every_alert_of_the_group(
    start_live: StartLive,
) -> None:
    # One round at start, then only the cut webhook can start one: the interval is long.
    with start_live(
        max_alerts=2,
        BRIDGE_RECONCILE_INTERVAL="1h",
        BRIDGE_RECONCILE_GRACE="1s",
    ) as live:
        wait_until(
            lambda: rounds(live.bridge.url, "failed") + rounds(live.bridge.url, "ok") >= 1,
            timeout=WAIT,
            what="the first round at start",
            procs=[live.bridge],
        )
        # Past the grace, so that the cut webhook's round concludes.
        am_started = datetime.fromisoformat(
            requests.get(f"{live.am_urls[0]}/api/v2/status", timeout=10)
            .json()["uptime"]
            .replace("Z", "+00:00")
        )
        wait_until(
            lambda: datetime.now(UTC) - am_started > timedelta(seconds=2),
            timeout=WAIT,
            what="Alertmanager older than the grace",
        )
        # One group (alertname, node): five GPUs of one node.
        alerts = [
            TestAlert(
                name="GPUTemperatureCritical", node=node_name(4), gpu=str(g), starts_at=STARTED
            )
            for g in range(5)
        ]
        post_alerts(live.am_urls, alerts)
        fingerprints = [am_fingerprint(live.am_urls[0], a) for a in alerts]
        for fingerprint in fingerprints:
            wait_paged(live, fingerprint)
        assert rounds(live.bridge.url, "ok") >= 1
        for fingerprint in fingerprints:
            assert pd_actions(live.pagerduty, fingerprint) == ["trigger"]


def test_an_alert_whose_webhooks_never_arrive_is_paged_and_resolved_from_alertmanagers_view(
    start_live: StartLive,
) -> None:
    """A webhook lost (the bridge down longer than Alertmanager retried): the alert is
    ingested as a webhook would have carried it, and resolved when Alertmanager drops it."""
    with start_live(
        webhooks_lost=True,
    ) as live:
        alert = gpu_hot(8)
        post_alerts(live.am_urls, [alert])
        fingerprint = am_fingerprint(live.am_urls[0], alert)
        wait_paged(live, fingerprint)
        assert metric(live.bridge.url, "alert_bridge_reconcile_alerts_added_total") >= 1
        post_alerts(live.am_urls, [alert], resolved=True)
        assert_resolved_saying(live, alert, fingerprint, "no longer listed by Alertmanager")


# -- no false resolve ---------------------------------------------------------------------------


def test_alertmanager_restarted_without_its_data_resolves_nothing(start_live: StartLive) -> None:
    with start_live(
        BRIDGE_RECONCILE_GRACE="15s",
    ) as live:
        alert = gpu_hot(5)
        post_alerts(live.am_urls, [alert])
        fingerprint = am_fingerprint(live.am_urls[0], alert)
        wait_paged(live, fingerprint)
        live.stop_alertmanager()
        live.start_alertmanager(fresh=True)
        assert am_listed(live.am_urls[0], alert) is None, "the new Alertmanager starts empty"
        grace_before = rounds(live.bridge.url, "grace")
        # Rounds against the empty Alertmanager: it is young, they must conclude nothing.
        wait_rounds(live, None, 3)
        assert pd_actions(live.pagerduty, fingerprint) == ["trigger"]
        assert rounds(live.bridge.url, "grace") >= grace_before + 3, "shown as grace rounds"
        # Prometheus re-sends every firing alert each minute: the Alertmanager relearns it.
        post_alerts(live.am_urls, [alert])
        wait_rounds(live, "ok", 3)
        assert pd_actions(live.pagerduty, fingerprint) == ["trigger"]
        entry = bridge_alert(live.bridge.url, fingerprint)
        assert entry is not None and entry["status"] == "firing"


def test_alertmanager_unreachable_for_three_intervals_resolves_nothing_and_says_so(
    live: Live,
) -> None:
    alert = gpu_hot(6)
    post_alerts(live.am_urls, [alert])
    fingerprint = am_fingerprint(live.am_urls[0], alert)
    wait_paged(live, fingerprint)
    wait_rounds(live, "ok", 2)
    failed_before = rounds(live.bridge.url, "failed")
    live.stop_alertmanager()
    wait_rounds(live, None, 3)
    assert pd_actions(live.pagerduty, fingerprint) == ["trigger"]
    assert rounds(live.bridge.url, "failed") >= failed_before + 3, "visible in /metrics"
    entry = bridge_alert(live.bridge.url, fingerprint)
    assert entry is not None and entry["status"] == "firing"
    page = requests.get(f"{live.bridge.url}/", timeout=10).text
    assert "Reconciliation" in page
    assert "concluded nothing (failed)" in page and live.am_urls[0] in page


def test_ha_pair_with_one_alertmanager_down_concludes_no_resolve_from_the_other(
    start_live: StartLive,
) -> None:
    with start_live(
        alertmanagers=2,
    ) as live:
        alert = gpu_hot(7)
        # Prometheus reached only the second Alertmanager of the pair.
        post_alerts(live.am_urls[1:], [alert])
        fingerprint = am_fingerprint(live.am_urls[1], alert)
        wait_paged(live, fingerprint)
        wait_rounds(live, "ok", 2)
        failed_before = rounds(live.bridge.url, "failed")
        live.stop_alertmanager(1)
        # The first still answers, without the alert: a partial view, not a resolve.
        wait_rounds(live, None, 3)
        assert pd_actions(live.pagerduty, fingerprint) == ["trigger"]
        assert rounds(live.bridge.url, "failed") >= failed_before + 3
        entry = bridge_alert(live.bridge.url, fingerprint)
        assert entry is not None and entry["status"] == "firing"


def test_an_alertmanager_missing_from_the_bridges_list_gets_no_resolve_it_never_sent(
    start_live: StartLive,
) -> None:
    """The second Alertmanager sends to the bridge but is not in BRIDGE_ALERTMANAGER_URL:
    its alerts are listed to nobody the bridge reads. They stay firing (before: resolved a
    minute after they paged), the console says why, and its own resolve still closes them."""
    with start_live(alertmanagers=2, unread=1) as live:
        read, unread = gpu_hot(3), gpu_hot(4)
        post_alerts(live.am_urls[:1], [read])
        post_alerts(live.am_urls[1:], [unread])
        read_fp = am_fingerprint(live.am_urls[0], read)
        unread_fp = am_fingerprint(live.am_urls[1], unread)
        wait_paged(live, read_fp)
        wait_paged(live, unread_fp)
        wait_rounds(live, "ok", 4)
        assert pd_actions(live.pagerduty, unread_fp) == ["trigger"]
        entry = bridge_alert(live.bridge.url, unread_fp)
        assert entry is not None and entry["status"] == "firing"
        page = requests.get(f"{live.bridge.url}/", timeout=10).text
        assert "not in BRIDGE_ALERTMANAGER_URL left alone" in page
        # The Alertmanager the bridge reads is still converged with: silenced, then resolved.
        am_silence(live.am_urls[0], read.node)
        wait_muted_in_bridge(live, read_fp, "silenced")
        post_alerts(live.am_urls[:1], [read], resolved=True)
        assert_resolved_saying(live, read, read_fp, "resolved while silenced by")
        # The unread one's own resolve closes its alert, as it always did.
        post_alerts(live.am_urls[1:], [unread], resolved=True)
        wait_until(
            lambda: pd_actions(live.pagerduty, unread_fp) == ["trigger", "resolve"],
            timeout=WAIT,
            what="the unread Alertmanager's own resolve",
            procs=[live.bridge],
        )


def test_the_bridges_own_dead_mans_page_is_never_resolved_by_reconciliation(
    start_live: StartLive,
) -> None:
    """AlertingPipelineDown is raised by the bridge, not by Alertmanager, so Alertmanager
    never lists it: that absence proves nothing. Resolving it would re-raise it at the next
    check, paging every few minutes while the pipeline stays down."""
    from bridge.watchdog import FINGERPRINT

    with start_live(
        BRIDGE_WATCHDOG_TIMEOUT="1s",
        BRIDGE_WATCHDOG_GRACE="1s",
    ) as live:
        wait_paged(live, FINGERPRINT)  # no Watchdog ever came: the dead-man's page went out
        wait_rounds(live, "ok", 4)  # Alertmanager answered, listing nothing of the kind
        assert pd_actions(live.pagerduty, FINGERPRINT) == ["trigger"]
        entry = bridge_alert(live.bridge.url, FINGERPRINT)
        assert entry is not None and entry["status"] == "firing"
