"""How each delivery attempt ended: the outbox rows' new state, and one attempt row each.

Every attempt is recorded (healthchecks' transports do the same), so `/alerts` shows what
was tried, when and with what answer, and pacing counts every replica's requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Update, bindparam, func, insert, select, update

from bridge.db.models import ALERTS, ATTEMPTS, DELIVERIES
from bridge.routing import SLACK
from bridge.store.outbox import FINISHED, Job
from bridge.store.storm_rows import record_slack_message

_D = DELIVERIES


@dataclass(frozen=True)
class Finish:
    """How one attempt ended, as the worker decided it."""

    status: str  # delivered | dry_run | dead | pending (retry)
    outcome: str  # delivered | dry_run | retry | dead
    detail: str
    http_status: int | None = None
    next_attempt_at: datetime | None = None
    external_ref: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None


@lru_cache(maxsize=8)
def _finish_statement(finished: bool, with_context: bool) -> Update:
    """The prepared UPDATE for one kind of outcome (built once per kind)."""
    values: dict[str, Any] = {
        "status": bindparam("b_status"),
        "claimed_by": None,
        "claimed_until": None,
        "last_error": bindparam("b_error"),
    }
    if finished:
        values.update(finished_at=bindparam("b_now"), external_ref=bindparam("b_ref"))
    else:
        values.update(next_attempt_at=bindparam("b_next"))
    if with_context:
        values["context"] = bindparam("b_context", type_=_D.c.context.type)
    return (
        update(_D)
        .where(
            _D.c.id.in_(bindparam("ids", expanding=True)),
            _D.c.claimed_by == bindparam("b_worker"),
        )
        .values(values)
        .returning(_D.c.id)
    )


_INSERT_ATTEMPT = insert(ATTEMPTS)
# Only the episode the message was about: a re-fire since then has its own.
_SET_SLACK_MESSAGE = (
    update(ALERTS)
    .where(ALERTS.c.id == bindparam("b_alert"), ALERTS.c.starts_at == bindparam("b_starts"))
    .values(slack_channel=bindparam("b_channel"), slack_ts=bindparam("b_ts"))
)


def finish(
    conn: Connection,
    job: Job,
    worker: str,
    result: Finish,
    started_at: datetime,
    now: datetime,
    context: dict[str, Any] | None = None,
) -> None:
    finished = result.status in FINISHED
    params: dict[str, Any] = {
        "ids": list(job.ids),
        "b_worker": worker,
        "b_status": result.status,
        "b_error": None if result.outcome in ("delivered", "dry_run") else result.detail,
        "b_now": now,
        "b_ref": result.external_ref,
        "b_next": result.next_attempt_at or now,
    }
    if context is not None:
        params["b_context"] = context
    statement = _finish_statement(finished, context is not None)
    # A row whose lease ran out belongs to whoever claimed it next: their result counts.
    owned = set(conn.execute(statement, params).scalars())
    mine = [d for d in job.deliveries if d.id in owned]
    if not mine:
        return
    duration_ms = int((now - started_at).total_seconds() * 1000)
    conn.execute(
        _INSERT_ATTEMPT,
        [
            {
                "delivery_id": d.id,
                "started_at": started_at,
                "duration_ms": duration_ms,
                "outcome": result.outcome,
                "http_status": result.http_status,
                "detail": result.detail[:2000],
            }
            for d in mine
        ],
    )
    if result.slack_ts and job.storm is not None and job.channel == SLACK:
        # The storm's one message, and the nodes it has announced by now.
        record_slack_message(
            conn, job.storm.id, result.slack_channel or "", result.slack_ts, job.storm.nodes
        )
    elif result.slack_ts and job.action == "trigger":
        conn.execute(
            _SET_SLACK_MESSAGE,
            [
                {
                    "b_alert": d.alert_id,
                    "b_starts": d.starts_at,
                    "b_channel": result.slack_channel,
                    "b_ts": result.slack_ts,
                }
                for d in mine
            ],
        )


_RECENT_ATTEMPTS = (
    select(func.count())
    .select_from(ATTEMPTS.join(_D, ATTEMPTS.c.delivery_id == _D.c.id))
    .where(_D.c.channel == bindparam("channel"), ATTEMPTS.c.started_at >= bindparam("since"))
)


def recent_attempts(conn: Connection, channel: str, since: datetime) -> int:
    """Requests made to `channel` since `since`, by every replica."""
    return int(conn.execute(_RECENT_ATTEMPTS, {"channel": channel, "since": since}).scalar_one())
