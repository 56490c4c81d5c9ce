"""The explicit retry decision: outcomes → outbox row state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.notify.result import (
    Delivered,
    PermanentFailure,
    RetryLater,
    backoff_seconds,
    classify_http,
    parse_retry_after,
)
from bridge.worker import RetryPolicy, decide_finish

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
POLICY = RetryPolicy(base_seconds=2, max_seconds=300)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (500, RetryLater),
        (502, RetryLater),
        (503, RetryLater),
        (429, RetryLater),
        (408, RetryLater),
        (400, PermanentFailure),
        (401, PermanentFailure),
        (403, PermanentFailure),
        (404, PermanentFailure),
        (413, PermanentFailure),
    ],
)
def test_http_status_classification(status: int, kind: type) -> None:
    assert isinstance(classify_http(status, "x"), kind)


def test_retry_after_is_parsed_from_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Sat, 28 Nov 2026 03:00:30 GMT", NOW) == 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after("999999") == 300  # capped


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert [backoff_seconds(n, 2, 300) for n in (1, 2, 3, 4)] == [2, 4, 8, 16]
    assert backoff_seconds(30, 2, 300) == 300


def test_retry_after_wins_over_backoff() -> None:
    finish = decide_finish(RetryLater("429", 429, retry_after=17), 1, NOW, NOW, POLICY)
    assert finish.status == "pending"
    assert finish.next_attempt_at == NOW + timedelta(seconds=17)


def test_server_error_retries_with_backoff() -> None:
    finish = decide_finish(RetryLater("500", 500), 3, NOW, NOW, POLICY)
    assert (finish.status, finish.next_attempt_at) == ("pending", NOW + timedelta(seconds=8))


def test_permanent_failure_is_a_dead_letter() -> None:
    finish = decide_finish(PermanentFailure("rejected: HTTP 400", 400), 1, NOW, NOW, POLICY)
    assert (finish.status, finish.outcome, finish.http_status) == ("dead", "dead", 400)


def test_retrying_past_the_maximum_age_gives_up_visibly() -> None:
    created = NOW - timedelta(hours=25)
    finish = decide_finish(RetryLater("500", 500), 40, created, NOW, POLICY)
    assert finish.status == "dead"
    assert "gave up after 40 attempts" in finish.detail


def test_dry_run_is_recorded_as_such() -> None:
    finish = decide_finish(Delivered(dry_run=True), 1, NOW, NOW, POLICY)
    assert finish.status == "dry_run"
