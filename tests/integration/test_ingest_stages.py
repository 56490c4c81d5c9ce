"""The ingest's decide stage passes values on (issue 22: one row dict mutated through four
stages is how a storm came to lose a critical's route)."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from bridge.alerts import parse_payload
from bridge.routing import PAGERDUTY, SLACK, Routing
from bridge.store.alert_rows import lock_rows
from bridge.store.ingest import ingest
from bridge.store.ingest_decide import decide_all
from bridge.storms import StormLimits
from tests.support.payloads import alert, payload, resolved

NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)
STORM = StormLimits(max_changes=2)


def test_deciding_leaves_the_stored_rows_as_they_were_and_returns_new_ones(
    engine: Engine,
) -> None:
    first = [alert(node=f"dgx-spark-0{n}") for n in range(3)]
    with engine.begin() as conn:
        ingest(conn, parse_payload(payload(*first)), Routing(), NOW, None, STORM)
    warning = alert(node="dgx-spark-09", severity="warning", fingerprint="fp-warning")
    later = [
        parse_payload(payload(resolved(first[0]), warning)),
        parse_payload(payload(first[1])),  # a repeat
    ]
    ordered = [sorted(p.alerts, key=lambda a: a.fingerprint) for p in later]

    with engine.begin() as conn:
        stored = lock_rows(conn, [a.fingerprint for alerts in ordered for a in alerts])
        before = copy.deepcopy(stored)
        decided = decide_all(conn, ordered, stored, Routing(), NOW, None, STORM)
        conn.rollback()

    assert stored == before  # the diff the write stage makes is against these
    resolved_fp, repeat_fp = first[0]["fingerprint"], first[1]["fingerprint"]
    assert decided.rows[resolved_fp]["status"] == "resolved"
    assert decided.rows[repeat_fp]["duplicate_count"] == before[repeat_fp]["duplicate_count"] + 1
    [gone, folded] = decided.changes  # the repeat changes nothing worth appending
    assert (gone.alert.fingerprint, gone.channels) == (resolved_fp, (PAGERDUTY, SLACK))
    # The name storms (max_changes=2): the warning folds, keeping its route for the storm.
    assert (folded.channels, folded.folded_channels) == ((), (SLACK,))
    assert [v.reason for v in decided.verdicts] == ["resolved", "new_firing", "repeat_firing"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        folded.channels = (PAGERDUTY,)  # type: ignore[misc]
