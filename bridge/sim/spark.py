"""Apache Spark's PrometheusServlet (`/metrics/prometheus`): a few gauges, plausible and small.

The servlet flattens Dropwizard metric names into `metrics_<source>_<name>_Value` (and
`_Number`) with a `type="gauges"` label; the driver's source is `spark.metrics.namespace`
when set, so its names do not embed the application id.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from bridge.sim.snapshots import NodeSnapshot

DEFAULT_NAMESPACE = "dgx_spark"


def _gauges(name: str, value: float) -> Iterator[Metric]:
    # The servlet writes each Dropwizard gauge twice: as _Number and as _Value.
    for suffix in ("Number", "Value"):
        family = GaugeMetricFamily(f"{name}_{suffix}", f"Spark gauge {name}.", labels=("type",))
        family.add_metric(["gauges"], value)
        yield family


def collect(snapshot: NodeSnapshot, namespace: str = DEFAULT_NAMESPACE) -> Iterator[Metric]:
    spark = snapshot.spark
    if spark.role == "master":
        # The standalone master and the application driver run on the first node.
        yield from _gauges("metrics_master_aliveWorkers", spark.alive_workers)
        yield from _gauges("metrics_master_workers", spark.alive_workers)
        yield from _gauges("metrics_master_apps", spark.apps)
        yield from _gauges("metrics_master_waitingApps", 0)
        driver = f"metrics_{namespace}_driver"
        yield from _gauges(
            f"{driver}_BlockManager_memory_memUsed_MB", spark.block_manager_mem_used_mb
        )
        yield from _gauges(
            f"{driver}_BlockManager_memory_maxMem_MB", spark.block_manager_max_mem_mb
        )
        yield from _gauges(f"{driver}_DAGScheduler_job_activeJobs", spark.active_jobs)
        yield from _gauges(f"{driver}_DAGScheduler_stage_runningStages", spark.running_stages)
        yield from _gauges(
            f"{driver}_ExecutorAllocationManager_executors_numberAllExecutors",
            spark.executors * spark.alive_workers,
        )
    else:
        yield from _gauges("metrics_worker_executors", spark.executors)
        yield from _gauges("metrics_worker_coresUsed", spark.cores_used)
        yield from _gauges("metrics_worker_coresFree", spark.cores_free)
        yield from _gauges("metrics_worker_memUsed_MB", spark.worker_mem_used_mb)
        yield from _gauges("metrics_worker_memFree_MB", spark.worker_mem_free_mb)
