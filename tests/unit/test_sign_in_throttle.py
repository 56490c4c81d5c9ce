"""The console's sign-in backoff and refusal log as decisions on (client, time) values."""

from __future__ import annotations

import pytest

from bridge.console.throttle import (
    FORGET_AFTER_SECONDS,
    FREE_FAILURES,
    LOG_INTERVAL_SECONDS,
    MAX_CLIENTS,
    MAX_WAIT_SECONDS,
    RefusalLog,
    SignInThrottle,
)


def failed_times(throttle: SignInThrottle, client: str, times: int, at: float = 0.0) -> None:
    for _ in range(times):
        throttle.failed(client, at)


@pytest.mark.parametrize(
    ("failures", "wait"),
    [(0, 0.0), (FREE_FAILURES - 1, 0.0), (FREE_FAILURES, 1.0), (FREE_FAILURES + 3, 8.0)],
)
def test_the_wait_doubles_after_the_free_failures(failures: int, wait: float) -> None:
    throttle = SignInThrottle()
    failed_times(throttle, "a", failures)
    assert throttle.wait_seconds("a", 0.0) == wait
    assert throttle.wait_seconds("b", 0.0) == 0.0  # per client


def test_the_wait_is_capped_and_counts_from_the_last_failure() -> None:
    throttle = SignInThrottle()
    failed_times(throttle, "a", FREE_FAILURES + 40, at=100.0)
    assert throttle.wait_seconds("a", 100.0) == MAX_WAIT_SECONDS
    assert throttle.wait_seconds("a", 100.0 + MAX_WAIT_SECONDS) == 0.0


def test_old_failures_are_forgotten_and_a_success_forgets_them_all() -> None:
    throttle = SignInThrottle()
    failed_times(throttle, "a", FREE_FAILURES + 5)
    throttle.failed("a", FORGET_AFTER_SECONDS)  # counts from one again
    assert throttle.wait_seconds("a", FORGET_AFTER_SECONDS) == 0.0
    failed_times(throttle, "a", FREE_FAILURES + 5, at=FORGET_AFTER_SECONDS)
    throttle.succeeded("a")
    assert throttle.wait_seconds("a", FORGET_AFTER_SECONDS) == 0.0


def test_a_flood_from_many_addresses_keeps_a_bounded_number_of_clients() -> None:
    throttle = SignInThrottle()
    failed_times(throttle, "first", FREE_FAILURES + 1)
    for i in range(MAX_CLIENTS):
        throttle.failed(f"10.{i}", 1.0)
    assert throttle.wait_seconds("first", 1.0) == 0.0  # the least recent one went first
    assert len(throttle) == MAX_CLIENTS


def test_the_refusal_log_writes_one_line_an_interval_and_counts_the_rest() -> None:
    log = RefusalLog()
    assert log.refused(0.0) == 0
    assert [log.refused(t) for t in (1.0, 2.0, LOG_INTERVAL_SECONDS - 1)] == [None] * 3
    assert log.refused(LOG_INTERVAL_SECONDS) == 3
    assert log.refused(LOG_INTERVAL_SECONDS + 1) is None
