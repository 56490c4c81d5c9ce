"""The enricher the delivery worker calls: plan, fetch under the budget, assemble.

I/O orchestration only; what to ask and how to read the answers are pure (`plan.py`,
`context.py`). The worker stores the returned dict with the outbox row, so a retry of the
same delivery never queries again.
"""

from __future__ import annotations

import functools
import logging
import math
import secrets
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from bridge.clock import Clock, utcnow
from bridge.enrich.config import EnrichmentConfig
from bridge.enrich.context import assemble
from bridge.enrich.model import Failure, Outcomes, QueryOutcome, RangeOutcome, TcpResult
from bridge.enrich.plan import Plan, plan_for
from bridge.enrich.probe import MAX_PROBES, check_tcp, split_address
from bridge.enrich.prometheus import PrometheusClient, PrometheusError
from bridge.enrich.runner import Breaker, Runner
from bridge.store.outbox import Job

log = logging.getLogger(__name__)

# After Prometheus failed as a whole, fail fast this long (see runner.Breaker).
BREAKER_COOLDOWN_SECONDS = 10.0
CHART_RANGE_SECONDS = 3600.0
CHART_STEP_SECONDS = 60.0
# Chart ranges end on this grid so both deliveries of one alert share one range query.
CHART_END_GRID_SECONDS = 15.0

TcpCheck = Callable[[str, str, float], TcpResult]


class Enricher:
    def __init__(
        self,
        client: PrometheusClient,
        config: EnrichmentConfig,
        *,
        budget: float,
        runner: Runner | None = None,
        clock: Clock = utcnow,
        tcp_check: TcpCheck = check_tcp,
    ) -> None:
        self.client = client
        self.config = config
        self.budget = budget
        self.query_timeout = min(config.query_timeout or budget, budget)
        self.runner = runner or Runner(ttl=config.cache_ttl)
        self.breaker = Breaker(BREAKER_COOLDOWN_SECONDS)
        self.clock = clock
        self._tcp_check = tcp_check

    # The worker's hook --------------------------------------------------------------------

    def enrich_job(self, job: Job) -> dict[str, Any] | None:
        """Context for a trigger job, or None for a Slack batch (its message lists alerts,
        and one context stored on every row of the batch would describe only one of them)."""
        if len(job.deliveries) != 1:
            return None
        delivery = job.deliveries[0]
        snapshot = delivery.snapshot
        context = self.enrich_alert(
            dict(snapshot.get("labels") or {}), dict(snapshot.get("annotations") or {})
        )
        chart = context.get("_chart")
        if isinstance(chart, dict):
            # Served at /charts/<delivery>.png?key=…: delivery ids are sequential, the key
            # keeps the URL from being guessed.
            chart["delivery"] = delivery.id
            chart["key"] = secrets.token_urlsafe(16)
        return context

    # One alert ----------------------------------------------------------------------------

    def enrich_alert(
        self, labels: Mapping[str, str], annotations: Mapping[str, str]
    ) -> dict[str, Any]:
        started = time.monotonic()
        deadline = started + self.budget
        now = self.clock()
        plan = plan_for(labels, annotations, self.config)
        window = self._chart_window(now)
        queries = self._fetch_queries(plan, now, deadline)
        chart = self._fetch_chart(plan, window, deadline)
        # Both waits end by the same deadline: together they take no longer than the budget.
        outcomes: dict[str, QueryOutcome] = self.runner.gather(
            queries, deadline, self._describe, self._late
        )
        chart_result: RangeOutcome | None = None
        if chart is not None:
            chart_result = self.runner.gather(
                {"chart": chart}, deadline, self._describe, self._late
            )["chart"]
        tcp = self._probe(plan, outcomes, deadline)
        context = assemble(
            plan,
            labels,
            Outcomes(outcomes, chart_result, tcp),
            now,
            chart_window=window,
            elapsed_seconds=time.monotonic() - started,
        )
        if context["_missing"]:
            log.debug("enrichment of %s missing %s", plan.alertname, context["_missing"])
        return context

    @property
    def _late(self) -> str:
        return f"no answer within the {self.budget:g}s enrichment budget"

    def _describe(self, error: BaseException) -> str:
        if isinstance(error, PrometheusError):
            return str(error)
        log.error("enrichment task failed", exc_info=error)
        return f"internal error: {type(error).__name__}"

    def _guarded(self, call: Callable[[float], Any], deadline: float) -> Callable[[], Any]:
        """`call(timeout)` with the breaker and the remaining budget applied when it runs."""

        def run() -> Any:
            reason = self.breaker.open_reason()
            if reason is not None:
                raise PrometheusError(reason)
            timeout = min(self.query_timeout, deadline - time.monotonic())
            if timeout <= 0:
                raise PrometheusError("not started: the enrichment budget was spent")
            try:
                return call(timeout)
            except PrometheusError as exc:
                if exc.systemic:
                    if self.breaker.open_reason() is None:
                        log.warning("Prometheus failed, context will be missing: %s", exc)
                    self.breaker.trip(str(exc))
                raise

        return run

    def _fetch_queries(self, plan: Plan, now: datetime, deadline: float) -> dict[str, Future[Any]]:
        at = now.timestamp()
        futures: dict[str, Future[Any]] = {}
        for pq in plan.queries:
            expr = pq.expr

            def call(timeout: float, expr: str = expr) -> Any:
                return self.client.query(expr, at, timeout)

            futures[pq.query.name] = self.runner.submit(
                ("query", expr), self._guarded(call, deadline)
            )
        return futures

    @staticmethod
    def _chart_window(now: datetime) -> tuple[float, float, float]:
        end = math.floor(now.timestamp() / CHART_END_GRID_SECONDS) * CHART_END_GRID_SECONDS
        return end - CHART_RANGE_SECONDS, end, CHART_STEP_SECONDS

    def _fetch_chart(
        self, plan: Plan, window: tuple[float, float, float], deadline: float
    ) -> Future[Any] | None:
        if plan.chart is None:
            return None
        expr = plan.chart.expr
        start, end, step = window

        def call(timeout: float) -> Any:
            return self.client.query_range(expr, start, end, step, timeout)

        return self.runner.submit(("range", expr, start, end, step), self._guarded(call, deadline))

    def _probe(
        self, plan: Plan, outcomes: Mapping[str, QueryOutcome], deadline: float
    ) -> tuple[TcpResult, ...] | Failure | None:
        targets = outcomes.get("_targets")
        if not plan.tcp_check or not isinstance(targets, tuple):
            return None
        checks = {}
        for sample in targets[:MAX_PROBES]:
            instance = sample.labels.get("instance", "")
            if split_address(instance) is None:
                continue
            job = sample.labels.get("job", "")
            timeout = max(0.0, min(self.config.tcp_timeout, deadline - time.monotonic()))
            checks[instance] = self.runner.submit(
                None, functools.partial(self._tcp_check, instance, job, timeout)
            )
        if not checks:
            return None
        done = self.runner.gather(checks, deadline, self._describe, self._late)
        return tuple(
            result
            if isinstance(result, TcpResult)
            else TcpResult(instance, "", "not checked", result.reason)
            for instance, result in done.items()
        )


def build_enricher(
    prometheus_url: str,
    config: EnrichmentConfig,
    *,
    budget: float,
    ca_bundle: str | None = None,
    clock: Clock = utcnow,
) -> Enricher | None:
    """The enricher for the app, or None when `enrichment.enabled` is false."""
    if not config.enabled:
        return None
    return Enricher(PrometheusClient(prometheus_url, ca_bundle), config, budget=budget, clock=clock)
