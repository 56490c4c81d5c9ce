"""GroupCommit: requests that arrive while a batch runs are run together next, each
answered with its own outcome, and none before its batch finished."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from bridge.store.group_commit import GroupCommit

WAIT = 10.0


class Recorder:
    """A batch runner that records its batches; the first one blocks until released, so
    the test knows which requests queue behind it."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.first_running = threading.Event()
        self.release_first = threading.Event()
        self.finished: list[str] = []

    def __call__(self, items: Sequence[str]) -> list[str | BaseException]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.first_running.set()
            assert self.release_first.wait(WAIT)
        outcomes: list[str | BaseException] = [
            ValueError(item) if item.startswith("bad") else item.upper() for item in items
        ]
        self.finished.extend(items)
        return outcomes


def _submit(
    group: GroupCommit[str, str], item: str, answers: dict[str, object], key: object = None
) -> threading.Thread:
    def run() -> None:
        try:
            answers[item] = group.run(item, key)
        except BaseException as exc:
            answers[item] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _queued(group: GroupCommit[str, str], count: int) -> None:
    """Wait until `count` requests wait behind the running batch."""
    for _ in range(int(WAIT / 0.005)):
        with group._lock:  # the test reads the queue under its lock
            if len(group._waiting) == count:
                return
        threading.Event().wait(0.005)
    raise AssertionError(f"{count} requests never queued")


def test_a_lone_request_is_a_batch_of_one() -> None:
    recorder = Recorder()
    recorder.release_first.set()
    group = GroupCommit(recorder)
    assert group.run("a") == "A"
    assert group.run("b") == "B"
    assert recorder.batches == [["a"], ["b"]]


def test_requests_arriving_during_a_batch_run_together_next_each_with_its_own_outcome() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    answers: dict[str, object] = {}
    threads = [_submit(group, "first", answers)]
    assert recorder.first_running.wait(WAIT)
    threads += [_submit(group, item, answers) for item in ("b", "bad-c", "d")]
    _queued(group, 3)
    assert answers == {}, "nobody is answered before its batch finished"
    recorder.release_first.set()
    for thread in threads:
        thread.join(WAIT)
    assert recorder.batches == [["first"], ["b", "bad-c", "d"]]
    assert answers["first"] == "FIRST"
    assert answers["b"] == "B" and answers["d"] == "D"
    assert isinstance(answers["bad-c"], ValueError)


def test_a_batch_that_raises_answers_every_request_of_it_with_the_error() -> None:
    def failing(items: Sequence[str]) -> list[str | BaseException]:
        raise ConnectionError("database unavailable")

    group: GroupCommit[str, str] = GroupCommit(failing)
    with pytest.raises(ConnectionError):
        group.run("a")
    # The group is not left leading: the next request runs.
    with pytest.raises(ConnectionError):
        group.run("b")


def test_a_runner_answering_the_wrong_number_of_outcomes_fails_the_batch_loudly() -> None:
    group: GroupCommit[str, str] = GroupCommit(lambda items: [])
    with pytest.raises(RuntimeError, match="0 outcomes for a batch of 1"):
        group.run("a")


def test_batches_are_capped_and_the_rest_run_in_their_order() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder, max_batch=2)
    answers: dict[str, object] = {}
    threads = [_submit(group, "first", answers)]
    assert recorder.first_running.wait(WAIT)
    for item in ("b", "c", "d", "e", "f"):
        threads.append(_submit(group, item, answers))
        _queued(group, len(threads) - 1)  # one at a time, so the queue has their order
    recorder.release_first.set()
    for thread in threads:
        thread.join(WAIT)
    assert recorder.batches[0] == ["first"]
    assert recorder.batches[1:] == [["b", "c"], ["d", "e"], ["f"]]
    assert {item: answers[item] for item in "bcdef"} == {i: i.upper() for i in "bcdef"}


def test_requests_with_other_keys_never_share_a_batch() -> None:
    recorder = Recorder()
    group = GroupCommit(recorder)
    answers: dict[str, object] = {}
    threads = [_submit(group, "first", answers, key="old rules")]
    assert recorder.first_running.wait(WAIT)
    threads.append(_submit(group, "b", answers, key="old rules"))
    _queued(group, 1)
    threads.append(_submit(group, "c", answers, key="new rules"))
    _queued(group, 2)
    threads.append(_submit(group, "d", answers, key="old rules"))
    _queued(group, 3)
    recorder.release_first.set()
    for thread in threads:
        thread.join(WAIT)
    assert recorder.batches == [["first"], ["b", "d"], ["c"]]
    assert answers == {"first": "FIRST", "b": "B", "c": "C", "d": "D"}


@pytest.mark.parametrize("leaders", [1, 2, 3])
def test_many_threads_each_get_their_own_outcome_and_every_item_runs_exactly_once(
    leaders: int,
) -> None:
    ran: list[str] = []
    guard = threading.Lock()
    running = [0]
    most = [0]
    batches: list[int] = []

    def runner(items: Sequence[str]) -> list[str | BaseException]:
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
            ran.extend(items)
            batches.append(len(items))
        threading.Event().wait(0.002)  # a transaction takes a while
        with guard:
            running[0] -= 1
        return [ValueError(i) if i.endswith("7") else i.upper() for i in items]

    group: GroupCommit[str, str] = GroupCommit(runner, max_batch=4, max_leaders=leaders)
    answers: dict[str, object] = {}
    threads = [_submit(group, f"item-{n}", answers, key=n % 3) for n in range(150)]
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a request never got its answer"
    assert {k: v for k, v in answers.items() if not k.endswith("7")} == {
        f"item-{n}": f"ITEM-{n}" for n in range(150) if n % 10 != 7
    }
    assert all(isinstance(answers[f"item-{n}"], ValueError) for n in range(7, 150, 10))
    assert sorted(ran) == sorted(answers), "every item ran exactly once"
    assert max(batches) <= 4
    assert most[0] <= leaders
    # Nothing is left leading: a last request is answered at once.
    assert group.run("last") == "LAST"
