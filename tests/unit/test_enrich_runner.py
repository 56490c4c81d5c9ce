"""The parallel runner: one deadline for all, single-flight cache, failures never cached,
and the breaker that spares an alert storm the full budget per alert."""

from __future__ import annotations

import threading
import time

from bridge.enrich.model import Failure
from bridge.enrich.runner import Breaker, Runner


def describe(error: BaseException) -> str:
    return f"failed: {error}"


def test_results_arrive_in_parallel_and_a_late_one_is_reported_late() -> None:
    runner = Runner(ttl=0)
    release = threading.Event()
    futures = {
        "fast": runner.submit(None, lambda: 1),
        "slow": runner.submit(None, lambda: release.wait(5) and 2),
        "broken": runner.submit(None, lambda: 1 / 0),
    }
    started = time.monotonic()
    results = runner.gather(futures, time.monotonic() + 0.3, describe, "late")
    release.set()
    assert time.monotonic() - started < 3  # waited for the deadline, not for "slow"
    assert results["fast"] == 1
    assert results["slow"] == Failure("late")
    assert results["broken"] == Failure("failed: division by zero")
    runner.shutdown()


def test_the_same_key_in_flight_is_asked_once() -> None:
    runner = Runner(ttl=30)
    calls = []
    gate = threading.Event()

    def fetch() -> str:
        calls.append(1)
        gate.wait(5)
        return "answer"

    first = runner.submit(("query", "up"), fetch)
    second = runner.submit(("query", "up"), fetch)
    gate.set()
    assert first.result(5) == second.result(5) == "answer"
    assert runner.submit(("query", "up"), fetch).result(5) == "answer"  # cached
    assert len(calls) == 1
    runner.shutdown()


def test_a_failure_is_not_cached_and_the_next_caller_asks_again() -> None:
    runner = Runner(ttl=30)
    answers = iter([ValueError("boom"), "ok"])

    def fetch() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    failed = runner.submit("k", fetch)
    assert isinstance(failed.exception(5), ValueError)
    assert runner.submit("k", fetch).result(5) == "ok"
    runner.shutdown()


def test_cached_answers_expire() -> None:
    now = [100.0]
    runner = Runner(ttl=30, clock=lambda: now[0])
    count = iter(range(10))
    assert runner.submit("k", lambda: next(count)).result(5) == 0
    now[0] += 29
    assert runner.submit("k", lambda: next(count)).result(5) == 0
    now[0] += 2
    assert runner.submit("k", lambda: next(count)).result(5) == 1
    runner.shutdown()


def test_the_breaker_opens_for_its_cooldown_and_says_why() -> None:
    now = [0.0]
    breaker = Breaker(10, clock=lambda: now[0])
    assert breaker.open_reason() is None
    breaker.trip("Prometheus unreachable (connection refused)")
    reason = breaker.open_reason()
    assert reason is not None and reason.startswith("Prometheus unreachable")
    assert "not retried for 10s" in reason
    now[0] = 10.0
    assert breaker.open_reason() is None
