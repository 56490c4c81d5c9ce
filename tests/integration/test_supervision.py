"""A real `alert-bridge serve` notices when its delivery process dies: never a silent failure."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from bridge.store.outbox import LEASE
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.tls import TestCA
from tests.integration.conftest import ROUTING_KEY
from tests.support.bridge_app import deliveries
from tests.support.bridge_proc import bridge_env, start_bridge
from tests.support.payloads import alert, payload
from tests.support.procs import Proc, wait_until

pytestmark = pytest.mark.slow

STARTED = re.compile(r"delivery process started \(pid (\d+)\)")


def paging_env(tmp_path: Path, db_url: str, pagerduty: FakePagerDuty, ca: TestCA) -> dict[str, str]:
    return bridge_env(
        tmp_path,
        db_url,
        BRIDGE_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
        BRIDGE_PAGERDUTY_EVENTS_URL=pagerduty.url,
        BRIDGE_CA_BUNDLE=str(ca.ca_bundle),
    )


def delivery_pids(bridge: Proc) -> list[int]:
    """Every delivery process the bridge started, in order (from its log)."""
    return [int(pid) for pid in STARTED.findall(bridge.log(lines=100000))]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: its parent has not reaped it yet.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def readyz(bridge: Proc) -> requests.Response:
    return requests.get(f"{bridge.url}/readyz", timeout=5)


def not_ready(bridge: Proc) -> dict[str, str] | None:
    """/readyz's JSON error while it answers 503 (a 503 Response is falsy: unwrap it)."""
    answer = readyz(bridge)
    return answer.json() if answer.status_code == 503 else None  # type: ignore[no-any-return]


def post(bridge: Proc, body: dict[str, object]) -> requests.Response:
    return requests.post(f"{bridge.url}/webhook/alertmanager", json=body, timeout=10)


def test_a_killed_delivery_process_is_noticed_restarted_and_delivers_what_came_meanwhile(
    tmp_path: Path, db_url: str, engine: Engine, pagerduty: FakePagerDuty, test_ca: TestCA
) -> None:
    with start_bridge(tmp_path, paging_env(tmp_path, db_url, pagerduty, test_ca)) as bridge:
        assert readyz(bridge).status_code == 200
        first = wait_until(lambda: delivery_pids(bridge) or None, timeout=10, what="child pid")
        os.kill(first[0], signal.SIGKILL)

        down = wait_until(lambda: not_ready(bridge), timeout=10, what="/readyz turning 503")
        assert down["error"] == "delivery process not running"
        assert "killed by SIGKILL" in down["detail"]
        console = requests.get(f"{bridge.url}/", timeout=5).text
        assert "stopped: delivery process killed by SIGKILL" in console
        assert post(bridge, payload(alert(node="dgx-spark-02"))).status_code == 200

        wait_until(lambda: len(delivery_pids(bridge)) >= 2 or None, timeout=30, what="restart")
        wait_until(
            lambda: readyz(bridge).status_code == 200 or None, timeout=30, what="ready again"
        )
        pagerduty.wait_for_events(1, timeout=20)
        wait_until(
            lambda: (
                all(d["status"] in ("delivered", "dry_run") for d in deliveries(engine)) or None
            ),
            timeout=20,
            what="the alert posted while the child was down delivered",
        )
        metrics = requests.get(f"{bridge.url}/metrics", timeout=5).text
    assert len(pagerduty.triggers()) == 1
    assert pagerduty.triggers()[0]["payload"]["source"] == "dgx-spark-02"
    assert "alert_bridge_delivery_process_restarts_total 1.0" in metrics
    assert "alert_bridge_delivery_process_up 1.0" in metrics
    assert not pid_alive(first[0])


def test_serve_exits_non_zero_when_the_delivery_process_cannot_start_again(
    tmp_path: Path, db_url: str, pagerduty: FakePagerDuty, test_ca: TestCA
) -> None:
    # A real way for start-up to fail on every try: the CA bundle the notifiers load
    # was replaced by something that is not a certificate.
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(test_ca.ca_bundle.read_bytes())
    env = {**paging_env(tmp_path, db_url, pagerduty, test_ca), "BRIDGE_CA_BUNDLE": str(bundle)}
    bridge = start_bridge(tmp_path, env)
    try:
        first = wait_until(lambda: delivery_pids(bridge) or None, timeout=10, what="child pid")
        bundle.write_text("not a certificate\n")
        os.kill(first[0], signal.SIGKILL)
        code = bridge.popen.wait(timeout=120)
    finally:
        bridge.stop()
    log = bridge.log(lines=100000)
    assert code == 1
    assert len(delivery_pids(bridge)) == 5  # the first child, then four failed starts
    assert "giving up" in log or "failed 5 times in a row" in log


def test_the_delivery_process_exits_when_its_web_process_is_killed(
    tmp_path: Path, db_url: str
) -> None:
    bridge = start_bridge(tmp_path, bridge_env(tmp_path, db_url))
    child = wait_until(lambda: delivery_pids(bridge) or None, timeout=10, what="child pid")[0]
    bridge.popen.send_signal(signal.SIGKILL)
    bridge.popen.wait(timeout=10)
    bridge.stop()
    wait_until(lambda: not pid_alive(child) or None, timeout=30, what="orphaned child exit")


def test_an_orphaned_delivery_process_finishes_its_in_flight_page_before_it_exits(
    tmp_path: Path, db_url: str, engine: Engine, pagerduty: FakePagerDuty, test_ca: TestCA
) -> None:
    pagerduty.set_latency(3.0)  # the page is mid-request when the web process dies
    bridge = start_bridge(tmp_path, paging_env(tmp_path, db_url, pagerduty, test_ca))
    child = wait_until(lambda: delivery_pids(bridge) or None, timeout=10, what="child pid")[0]
    assert post(bridge, payload(alert())).status_code == 200
    wait_until(lambda: pagerduty.requests or None, timeout=15, what="the page in flight")
    bridge.popen.send_signal(signal.SIGKILL)
    bridge.popen.wait(timeout=10)
    bridge.stop()
    wait_until(lambda: not pid_alive(child) or None, timeout=30, what="orphaned child exit")
    # It finished the request it had started and recorded it: nothing left in flight to
    # wait out its lease, nothing sent twice.
    (row,) = [d for d in deliveries(engine) if d["channel"] == "pagerduty"]
    assert row["status"] == "delivered"
    assert len(pagerduty.triggers()) == 1


def dry_runs(metrics_text: str) -> float:
    """Dry-run notifications the delivery process counted, read from a /metrics text."""
    found = re.findall(
        r'^alert_bridge_notifications_total\{channel="\w+",outcome="dry_run"\} (\S+)$',
        metrics_text,
        re.MULTILINE,
    )
    return sum(float(value) for value in found)


def test_scrapes_beside_webhook_posts_each_see_the_state_at_their_time(
    tmp_path: Path, db_url: str, engine: Engine
) -> None:
    with start_bridge(tmp_path, bridge_env(tmp_path, db_url)) as bridge:
        stop = threading.Event()
        scrapes: list[int] = []

        def scrape_all_the_time() -> None:
            while not stop.is_set():
                scrapes.append(requests.get(f"{bridge.url}/metrics", timeout=10).status_code)

        scrapers = [threading.Thread(target=scrape_all_the_time) for _ in range(2)]
        for thread in scrapers:
            thread.start()
        try:
            for n in range(1, 6):
                assert post(bridge, payload(alert(node=f"dgx-spark-{n:02d}"))).status_code == 200
                wait_until(
                    lambda: all(d["status"] == "dry_run" for d in deliveries(engine)) or None,
                    timeout=20,
                    what=f"alert {n} delivered (dry-run)",
                )
                # Two notifications per critical alert (PagerDuty and Slack), all done:
                # this scrape must see exactly them, not an earlier scrape's figures.
                now = requests.get(f"{bridge.url}/metrics", timeout=10).text
                assert dry_runs(now) == 2 * n
        finally:
            stop.set()
            for thread in scrapers:
                thread.join(10)
    assert scrapes and set(scrapes) == {200}


def test_a_second_stop_signal_during_shutdown_does_not_crash_the_shutdown(
    tmp_path: Path, db_url: str
) -> None:
    # `timeout`, a process group kill or an impatient operator often send SIGTERM twice.
    bridge = start_bridge(tmp_path, bridge_env(tmp_path, db_url))
    bridge.popen.send_signal(signal.SIGTERM)
    wait_until(
        lambda: "no longer accepting" in bridge.log(lines=100000) or None,
        timeout=10,
        what="shutdown under way",
    )
    if bridge.popen.poll() is None:
        bridge.popen.send_signal(signal.SIGTERM)
    code = bridge.popen.wait(timeout=60)
    bridge.stop()
    assert code == 0
    assert "Traceback" not in bridge.log(lines=100000)


def test_what_a_killed_delivery_process_had_claimed_goes_out_without_waiting_for_its_lease(
    tmp_path: Path, db_url: str, engine: Engine, pagerduty: FakePagerDuty, test_ca: TestCA
) -> None:
    # PagerDuty holds the first trigger unanswered: the child is killed mid-send, with the
    # row claimed (in flight, leased for LEASE).
    pagerduty.hang_next(seconds=120)
    with start_bridge(tmp_path, paging_env(tmp_path, db_url, pagerduty, test_ca)) as bridge:
        first = wait_until(lambda: delivery_pids(bridge) or None, timeout=10, what="child pid")
        assert post(bridge, payload(alert(node="dgx-spark-03"))).status_code == 200
        wait_until(lambda: pagerduty.requests or None, timeout=20, what="the trigger in flight")
        assert {d["status"] for d in deliveries(engine) if d["channel"] == "pagerduty"} == {
            "in_flight"
        }
        claimed = sum(d["status"] == "in_flight" for d in deliveries(engine))
        os.kill(first[0], signal.SIGKILL)

        wait_until(lambda: len(delivery_pids(bridge)) >= 2 or None, timeout=30, what="restart")
        # Well before the lease would have let another worker claim it.
        pagerduty.wait_for_events(1, timeout=LEASE.total_seconds() - 20)
        log = bridge.log(lines=100000)
    assert len(pagerduty.triggers()) == 1
    assert f"released {claimed} deliveries the dead delivery process had claimed" in log
