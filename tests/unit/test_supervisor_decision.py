"""What the supervisor does after its delivery process exits (pure decision, table-driven)."""

from __future__ import annotations

import pytest

from bridge.supervisor import MAX_BACKOFF_SECONDS, MAX_FAILED_STARTS, GiveUp, Restart, after_exit


@pytest.mark.parametrize(
    ("failed_before", "ran_for", "failed_after", "step"),
    [
        # A child that ran for a long time and then died: restart at once-ish, count from 1.
        (0, 3600.0, 1, Restart(1.0)),
        (3, 3600.0, 1, Restart(1.0)),
        # Died before it was ready, or soon after: a failed start, backoff doubles.
        (0, None, 1, Restart(1.0)),
        (1, None, 2, Restart(2.0)),
        (2, 5.0, 3, Restart(4.0)),
        (3, None, 4, Restart(MAX_BACKOFF_SECONDS)),
        (
            MAX_FAILED_STARTS - 1,
            None,
            MAX_FAILED_STARTS,
            GiveUp("the delivery process failed 5 times in a row"),
        ),
    ],
)
def test_the_supervisor_restarts_with_backoff_and_gives_up_on_a_crash_loop(
    failed_before: int, ran_for: float | None, failed_after: int, step: Restart | GiveUp
) -> None:
    assert after_exit(failed_before, ran_for) == (failed_after, step)


def test_a_child_that_ran_stably_never_leads_to_giving_up() -> None:
    failed = 0
    for _ in range(50):
        failed, step = after_exit(failed, 3600.0)
        assert isinstance(step, Restart)
