"""The link between the web process and its delivery process, over real pipes and sockets."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator

import pytest

from bridge.delivery_link import (
    ChildEnds,
    LinkClosed,
    MetricsServer,
    ParentEnds,
    WakeReceiver,
    make_link,
    merge_wakes,
)


@pytest.fixture
def link() -> Iterator[tuple[ParentEnds, ChildEnds]]:
    parent, child = make_link(multiprocessing.get_context("spawn"))
    yield parent, child
    parent.close()
    child.wakes.close()
    child.metrics.close()


def serve_until_closed(server: MetricsServer) -> None:
    try:
        while True:
            server.serve(1.0)
    except LinkClosed:
        pass


def test_queued_wakes_merge_into_one_and_an_unknown_count_wakes_everyone() -> None:
    assert merge_wakes(bytes([3, 4])) == 7
    assert merge_wakes(bytes([3, 0, 4])) is None


def test_a_wake_reaches_the_delivery_side_with_its_job_count(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, child = link
    receiver = WakeReceiver(child.wakes)
    assert parent.wakes.send(5)
    assert receiver.receive(5.0) == (True, 5)
    assert parent.wakes.send(None)
    assert receiver.receive(5.0) == (True, None)
    assert receiver.receive(0.05) == (False, None)


def test_a_wake_never_blocks_even_when_the_delivery_side_reads_nothing(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, _child = link
    # Far more than any socket buffer holds: every send returns, none raises.
    assert all(parent.wakes.send(1) for _ in range(1_000_000 // 64))


def test_a_webhook_wake_is_not_held_up_by_a_scrape_that_waits_for_the_delivery_side(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, child = link
    release = threading.Event()
    producing = threading.Event()

    def slow_figures() -> bytes:
        producing.set()
        release.wait(30)
        return b"figures"

    server = MetricsServer(child.metrics, slow_figures)
    threading.Thread(target=serve_until_closed, args=(server,), daemon=True).start()
    scrape: list[bytes | None] = []
    scraper = threading.Thread(target=lambda: scrape.append(parent.metrics.fetch(30.0)))
    scraper.start()
    assert producing.wait(10)

    # The scrape is still waiting; the wake goes through regardless.
    assert parent.wakes.send(2)
    assert WakeReceiver(child.wakes).receive(10.0) == (True, 2)
    assert scrape == []

    release.set()
    scraper.join(10)
    assert scrape == [b"figures"]


def test_a_reply_that_comes_after_its_scrape_timed_out_is_never_read_by_the_next_scrape(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, child = link
    state = {"n": 0}
    release = threading.Event()

    def figures() -> bytes:
        state["n"] += 1
        if state["n"] == 1:
            release.wait(30)  # the first answer is late
        return f"state {state['n']}".encode()

    server = MetricsServer(child.metrics, figures)
    threading.Thread(target=serve_until_closed, args=(server,), daemon=True).start()

    assert parent.metrics.fetch(0.2) is None  # timed out; its reply is still to come
    release.set()
    assert parent.metrics.fetch(10.0) == b"state 2"
    assert parent.metrics.fetch(10.0) == b"state 3"


def test_the_delivery_side_learns_that_the_web_process_is_gone(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, child = link
    receiver = WakeReceiver(child.wakes)
    server = MetricsServer(child.metrics, lambda: b"")
    parent.close()
    with pytest.raises(LinkClosed):
        receiver.receive(5.0)
    with pytest.raises(LinkClosed):
        server.serve(5.0)


def test_a_wake_to_a_delivery_side_that_is_gone_reports_it(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, child = link
    child.wakes.close()
    assert not parent.wakes.send(1)


def test_a_reconcile_request_reaches_the_delivery_side_and_is_no_job_count(
    link: tuple[ParentEnds, ChildEnds],
) -> None:
    parent, child = link
    requests: list[bool] = []
    receiver = WakeReceiver(child.wakes, on_reconcile=lambda: requests.append(True))
    assert parent.wakes.send_reconcile()
    assert receiver.receive(5.0) == (False, None)  # asked for a round, woke no worker
    assert requests == [True]
    # A count of 255 jobs never reads as a reconcile request.
    assert parent.wakes.send(255)
    assert receiver.receive(5.0) == (True, 254)
    assert requests == [True]
