"""Enrichment against a real Prometheus holding known data.

The data is written as OpenMetrics text with timestamps, turned into TSDB blocks by
`promtool tsdb create-blocks-from openmetrics` and served by `prometheus` from those blocks (no
scraping), at both ends of the supported range (2.42 and the newest, `peer_versions`): every
number the context shows is known in advance.

Three nodes, one GPU each, the last sample at `end`:
- dgx-spark-01, GB10 (no framebuffer series): GPU at 70 °C until `end`-10m, then a straight
  climb to 87 °C (+1.7 °C/min); SM clock down from 2400 to 1350 MHz with thermal throttling
  (0x60); unified memory filling at 0.32 GiB/min to 6.4 GiB available of 128 GiB (95 % used);
  vLLM with 93 % KV cache and 7 waiting requests; XIDs 13 and 79 within 24 h; CPU 95 % busy;
  2 OOM kills 20 minutes ago.
- dgx-spark-02, a framebuffer GPU: 61 °C, 60000 of 81920 MiB, 5 % utilised, one XID in 24 h
  (an old-style exporter without err_code labels).
- dgx-spark-03: every exporter down since `end`-4m30s, on ports nothing listens on.
- dgx-spark-04: only `up` series: its DCGM exporter down since `end`-6m while its node
  exporter answers (on a port really listening here).

`bench/enrich_latency.py` reuses the data and the Prometheus launcher.
"""

from __future__ import annotations

import json
import math
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from bridge.enrich.config import EnrichmentConfig, parse_enrichment
from bridge.enrich.plan import plan_for
from bridge.enrich.prometheus import PrometheusClient
from bridge.enrich.service import Enricher
from bridge.settings import Settings
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.support.bridge_app import deliver_until_settled as settle
from tests.support.bridge_app import deliveries, make_app
from tests.support.bridge_app import post_alerts as post
from tests.support.payloads import alert, payload
from tests.support.peers import PeerVersions
from tests.support.procs import Proc, free_port, require_binary, wait_http
from tests.support.stack_procs import prom_query

pytestmark = pytest.mark.slow

GIB = 1024**3
MIB = 1024**2
STEP = 15.0
HISTORY = 70 * 60.0
HOUR = 3600.0
MODEL_GB10 = "NVIDIA GB10"
MODEL_H100 = "NVIDIA H100 80GB HBM3"


# -- the known data ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownData:
    end: float  # unix seconds of the last sample
    open_port: int  # listening here: dgx-spark-04's node exporter
    closed_ports: tuple[int, int, int]  # nothing listens: 04's dcgm, 03's dcgm and node

    @property
    def node04_dcgm(self) -> str:
        return f"127.0.0.1:{self.closed_ports[0]}"

    @property
    def node04_node(self) -> str:
        return f"127.0.0.1:{self.open_port}"

    @property
    def node03(self) -> dict[str, str]:
        return {
            "dcgm": f"127.0.0.1:{self.closed_ports[1]}",
            "node": f"127.0.0.1:{self.closed_ports[2]}",
        }


Shape = Callable[[float], float]


def constant(value: float) -> Shape:
    return lambda t: value


def ramp(start: float, stop: float, before: float, after: float) -> Shape:
    """`before` until `start`, a straight line to `after` at `stop`, `after` from then on."""

    def shape(t: float) -> float:
        if t <= start:
            return before
        if t >= stop:
            return after
        return before + (after - before) * (t - start) / (stop - start)

    return shape


def step_at(at: float, before: float, after: float) -> Shape:
    return lambda t: before if t <= at else after


def counter(rate: float, start_value: float = 1000.0) -> Shape:
    return lambda t: start_value + rate * t


class OpenMetrics:
    """Families kept together, each series' samples in time order, as promtool requires."""

    def __init__(self) -> None:
        self._families: dict[str, list[str]] = {}

    def series(self, name: str, labels: dict[str, str], times: list[float], shape: Shape) -> None:
        rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
        lines = self._families.setdefault(name, [])
        lines += [f"{name}{{{rendered}}} {shape(t):.6f} {t:.3f}" for t in times]

    def text(self) -> str:
        return "\n".join(line for lines in self._families.values() for line in lines) + "\n# EOF\n"


def grid(end: float, span: float, step: float = STEP, *, until: float | None = None) -> list[float]:
    """Sample times from `end`-`span` to `until` (default `end`), every `step` seconds."""
    last = end if until is None else until
    count = round((last - (end - span)) / step)
    return [end - span + i * step for i in range(count + 1)]


def write_openmetrics(path: Path, data: KnownData) -> None:
    end = data.end
    om = OpenMetrics()
    recent = grid(end, HISTORY)
    gpus = {
        "dgx-spark-01": {
            "gpu": "0",
            "modelName": MODEL_GB10,
            "job": "dcgm",
            "instance": "127.0.0.1:9400",
        },
        "dgx-spark-02": {
            "gpu": "0",
            "modelName": MODEL_H100,
            "job": "dcgm",
            "instance": "127.0.0.1:9401",
        },
    }
    dcgm: dict[str, dict[str, Shape]] = {
        "DCGM_FI_DEV_GPU_TEMP": {
            "dgx-spark-01": ramp(end - 600, end, 70.0, 87.0),
            "dgx-spark-02": constant(61.0),
        },
        "DCGM_FI_DEV_POWER_USAGE": {
            "dgx-spark-01": constant(131.0),
            "dgx-spark-02": constant(300.0),
        },
        "DCGM_FI_DEV_SM_CLOCK": {
            "dgx-spark-01": step_at(end - 600, 2400.0, 1350.0),
            "dgx-spark-02": constant(1980.0),
        },
        "DCGM_FI_DEV_CLOCKS_EVENT_REASONS": {
            "dgx-spark-01": step_at(end - 600, 0.0, 0x60),
            "dgx-spark-02": constant(0.0),
        },
        "DCGM_FI_DEV_GPU_UTIL": {
            "dgx-spark-01": constant(97.0),
            "dgx-spark-02": constant(5.0),
        },
        "DCGM_FI_DEV_FB_USED": {"dgx-spark-02": constant(60000.0)},
        "DCGM_FI_DEV_FB_FREE": {"dgx-spark-02": constant(21920.0)},
    }
    for name, per_node in dcgm.items():
        for node, shape in per_node.items():
            om.series(name, {"node": node, **gpus[node]}, recent, shape)

    # XIDs: the sticky last-XID gauge, sparse over 30 h and dense recently.
    def xid_times(first: float, last: float) -> list[float]:
        sparse = [t for t in grid(end, 30 * HOUR, 1800.0) if first <= t < end - HISTORY]
        return [*sparse, *(t for t in recent if first <= t <= last)]

    node01 = {"node": "dgx-spark-01", **gpus["dgx-spark-01"]}
    for code, first, last in (
        (43, end - 30 * HOUR, end - 20 * HOUR - 1),  # before the 24 h window: not counted
        (13, end - 20 * HOUR, end - 180),
        (79, end - 180, end),
    ):
        labels = {**node01, "err_code": str(code), "err_msg": f"xid {code}"}
        times = (
            xid_times(first, last)
            if last > end - HISTORY
            else [t for t in grid(end, 30 * HOUR, 1800.0) if first <= t <= last]
        )
        om.series("DCGM_FI_DEV_XID_ERRORS", labels, times, constant(float(code)))
    # An exporter without err_code labels: one series, 0 until XID 31 at end-5h.
    node02 = {"node": "dgx-spark-02", **gpus["dgx-spark-02"]}
    om.series(
        "DCGM_FI_DEV_XID_ERRORS",
        node02,
        xid_times(end - 30 * HOUR, end),
        step_at(end - 5 * HOUR, 0.0, 31.0),
    )

    nodes = {
        "dgx-spark-01": "127.0.0.1:9100",
        "dgx-spark-02": "127.0.0.1:9101",
    }
    for node, instance in nodes.items():
        labels = {"node": node, "job": "node", "instance": instance}
        om_node = {
            "node_memory_MemTotal_bytes": constant(128.0 * GIB),
            "node_memory_MemAvailable_bytes": (
                ramp(end - 2400, end, 19.2 * GIB, 6.4 * GIB)
                if node == "dgx-spark-01"
                else constant(64.0 * GIB)
            ),
            "node_memory_Cached_bytes": constant(10.0 * GIB),
            "node_memory_Buffers_bytes": constant(0.5 * GIB),
            "node_memory_MemFree_bytes": constant(2.0 * GIB),
            "node_load1": constant(12.5 if node == "dgx-spark-01" else 0.5),
            "node_load5": constant(10.0 if node == "dgx-spark-01" else 0.4),
            "node_load15": constant(8.0 if node == "dgx-spark-01" else 0.3),
            "node_vmstat_oom_kill": (
                step_at(end - 1200, 0.0, 2.0) if node == "dgx-spark-01" else constant(0.0)
            ),
        }
        for name, shape in om_node.items():
            om.series(name, labels, recent, shape)
        idle = 0.05 if node == "dgx-spark-01" else 0.9
        for cpu in range(4):
            for mode, rate in (("idle", idle), ("user", 1 - idle)):
                om.series(
                    "node_cpu_seconds_total",
                    {**labels, "cpu": str(cpu), "mode": mode},
                    recent,
                    counter(rate),
                )

    vllm01 = {
        "node": "dgx-spark-01",
        "job": "vllm",
        "instance": "127.0.0.1:8000",
        "model_name": "llama",
        "engine": "0",
    }
    om.series("vllm:kv_cache_usage_perc", vllm01, recent, constant(0.93))
    om.series("vllm:num_requests_waiting", vllm01, recent, constant(7.0))
    om.series("vllm:num_requests_running", vllm01, recent, constant(12.0))
    om.series("vllm:generation_tokens_total", vllm01, recent, counter(250.0))
    vllm02 = {**vllm01, "node": "dgx-spark-02"}
    om.series("vllm:gpu_cache_usage_perc", vllm02, recent, constant(0.40))  # vLLM < 0.12

    targets = [
        ("dgx-spark-01", "dcgm", "127.0.0.1:9400", constant(1.0)),
        ("dgx-spark-01", "node", "127.0.0.1:9100", constant(1.0)),
        ("dgx-spark-01", "vllm", "127.0.0.1:8000", constant(1.0)),
        ("dgx-spark-02", "dcgm", "127.0.0.1:9401", constant(1.0)),
        ("dgx-spark-02", "node", "127.0.0.1:9101", constant(1.0)),
        ("dgx-spark-04", "dcgm", data.node04_dcgm, step_at(end - 360, 1.0, 0.0)),
        ("dgx-spark-04", "node", data.node04_node, constant(1.0)),
        *(
            ("dgx-spark-03", job, address, step_at(end - 270, 1.0, 0.0))
            for job, address in data.node03.items()
        ),
    ]
    for node, job, instance, shape in targets:
        om.series("up", {"node": node, "job": job, "instance": instance}, recent, shape)
    path.write_text(om.text(), encoding="utf-8")


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    return free_port()


@dataclass
class KnownPrometheus:
    proc: Proc
    data: KnownData

    @property
    def url(self) -> str:
        return self.proc.url


def start_known_prometheus(
    workdir: Path,
    open_port: int,
    *,
    end: float | None = None,
    peers: PeerVersions | None = None,
) -> KnownPrometheus:
    """Backfill the known data into a fresh TSDB and serve it; the caller stops `proc`.

    `peers`: which end of the supported range (default the machine's Prometheus)."""
    promtool = require_binary("promtool", peers)
    prometheus = require_binary("prometheus", peers)
    end = end if end is not None else math.floor(time.time() / STEP) * STEP - STEP
    data = KnownData(end, open_port, (closed_port(), closed_port(), closed_port()))
    workdir.mkdir(parents=True, exist_ok=True)
    source, tsdb = workdir / "known.om", workdir / "tsdb"
    write_openmetrics(source, data)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(source), str(tsdb)],
        check=True,
        capture_output=True,
    )
    config = workdir / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n", encoding="utf-8")  # scrapes nothing
    port = free_port()
    log_path = workdir / "prometheus.log"
    log_file = log_path.open("wb")
    popen = subprocess.Popen(
        [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={tsdb}",
            f"--web.listen-address=127.0.0.1:{port}",
            # The XID history reaches back 30 h; retention counts from the newest block.
            "--storage.tsdb.retention.time=7d",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    proc = Proc("prometheus-known", popen, log_path, f"http://127.0.0.1:{port}", log_file)
    try:
        wait_http(proc.url + "/-/ready", timeout=60, proc=proc)
    except BaseException:
        proc.dump_log()
        proc.stop()
        raise
    return KnownPrometheus(proc, data)


class Listener:
    """A socket that accepts TCP connections (and says nothing): an exporter port that is up."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port: int = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def known(
    tmp_path_factory: pytest.TempPathFactory, peer_versions: PeerVersions
) -> Iterator[KnownPrometheus]:
    listener = Listener()
    prom = start_known_prometheus(
        tmp_path_factory.mktemp("known-prometheus"), listener.port, peers=peer_versions
    )
    try:
        yield prom
    finally:
        prom.proc.stop()
        listener.close()


@pytest.fixture
def recent_known(tmp_path: Path) -> Iterator[KnownPrometheus]:
    """Known data that ends now: the module's copy may be older than Prometheus's 5 min
    lookback by the time a test through the bridge runs on a busy machine."""
    listener = Listener()
    prom = start_known_prometheus(tmp_path / "recent-known-prometheus", listener.port)
    try:
        yield prom
    finally:
        prom.proc.stop()
        listener.close()


def enricher_at(
    known: KnownPrometheus, config: EnrichmentConfig | None = None, budget: float = 10.0
) -> Enricher:
    """An enricher evaluating at the time of the last sample (numbers exact, no drift)."""
    at = datetime.fromtimestamp(known.data.end + 1, UTC)
    return Enricher(
        PrometheusClient(known.url), config or EnrichmentConfig(), budget=budget, clock=lambda: at
    )


def labels(name: str, node: str = "dgx-spark-01", **extra: str) -> dict[str, str]:
    gpu = {} if name in ("DGXSparkNodeDown", "ExporterDown", "HighCPUUsage") else {"gpu": "0"}
    return {"alertname": name, "severity": "critical", "node": node, **gpu, **extra}


def visible(context: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in context.items() if not k.startswith("_")}


# -- the data itself ---------------------------------------------------------------------------


def test_prometheus_serves_the_backfilled_data(known: KnownPrometheus) -> None:
    at = known.data.end + 1
    result = prom_query(known.url, f'DCGM_FI_DEV_GPU_TEMP{{node="dgx-spark-01"}} @ {at}')
    assert float(result["result"][0]["value"][1]) == pytest.approx(87.0)
    old = prom_query(
        known.url, f'count(DCGM_FI_DEV_XID_ERRORS{{err_code="43"}} @ {at - 25 * 3600})'
    )
    assert old["result"], "the 30 h XID history was not kept"


# -- each family's numbers ---------------------------------------------------------------------


def test_gpu_temperature_context_has_the_known_numbers(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(labels("GPUTemperatureCritical"), {})
    assert context["_missing"] == []
    assert visible(context) == {
        "GPU temperature": "87 °C",
        "15 min max": "87 °C",
        "trend": "+1.7 °C/min",
        "power draw": "131 W",
        "SM clock": "1,350 MHz (56 % of its 1 h max, 2,400 MHz)",
        "throttle reasons": "SW thermal slowdown, HW thermal slowdown (0x60)",
        "other GPUs": "dgx-spark-02 GPU 0: 61 °C",
    }
    assert context["_key"] == "87 °C, trend +1.7 °C/min"
    chart = context["_chart"]
    assert chart["threshold"] == 85 and chart["unit"] == "celsius"
    (series,) = chart["series"]
    assert series["points"][-1][1] == pytest.approx(87.0)
    assert chart["end"] - chart["start"] == 3600


def test_gpu_memory_on_gb10_is_unified_memory_with_time_to_exhaustion(
    known: KnownPrometheus,
) -> None:
    context = enricher_at(known).enrich_alert(labels("GPUMemoryExhausted"), {})
    assert context["_missing"] == []
    lines = visible(context)
    assert lines["GPU memory"] == (
        "95 % used: 121.6 GiB of 128.0 GiB (unified memory, shared with the CPU)"
    )
    assert lines["trend"] == "+327.7 MiB/min"  # 0.32 GiB/min
    assert lines["time to exhaustion"] == "about 20m at this rate"
    assert lines["page cache"].startswith("10.0 GiB")
    assert lines["KV cache (vLLM)"] == "93 %"
    assert lines["requests waiting (vLLM)"] == "7"
    assert lines["requests running (vLLM)"] == "12"
    assert lines["OOM kills in 1 h"] == "2"
    assert context["_key"].startswith("95 % used")


def test_gpu_memory_uses_the_framebuffer_where_dcgm_exports_it(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(labels("GPUMemoryHigh", node="dgx-spark-02"), {})
    lines = visible(context)
    assert lines["GPU memory"] == "73 % used: 58.6 GiB of 80.0 GiB (framebuffer)"
    assert lines["time to exhaustion"] == "not growing"
    assert lines["KV cache (vLLM)"] == "40 %"  # the pre-0.12 metric name
    assert "page cache" not in lines


def test_xid_context_explains_the_code_and_counts_the_last_24_hours(
    known: KnownPrometheus,
) -> None:
    context = enricher_at(known).enrich_alert(labels("GPUXIDError", xid="79"), {})
    assert context["_missing"] == []
    lines = visible(context)
    assert lines["XID"] == "79: GPU has fallen off the bus"
    assert lines["first action"] == "reboot the node"
    assert lines["GPU model"] == MODEL_GB10
    assert lines["XIDs in 24 h"] == "2"  # 13 and 79; the 43 from 30 h ago is not counted
    assert lines["node still up"] == "yes: 3 of 3 exporters answer"
    assert context["_key"] == "XID 79: GPU has fallen off the bus; first action: reboot the node"


def test_xid_that_means_a_gpu_reset_carries_the_gb10_note(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(labels("GPUXIDError", xid="119"), {})
    assert visible(context)["XID"] == "119: GSP RPC timeout"
    assert "GPU reset means rebooting the node" in visible(context)["note"]


def test_xid_count_without_err_code_labels_counts_value_changes(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(
        labels("GPUXIDError", node="dgx-spark-02", xid="31"), {}
    )
    lines = visible(context)
    assert lines["XIDs in 24 h"] == "1"
    assert lines["XID"] == "31: GPU memory page fault (MMU fault)"
    assert "note" not in lines  # an H100: no GB10 note


def test_node_down_names_the_exporters_that_are_down_and_checks_tcp(
    known: KnownPrometheus,
) -> None:
    context = enricher_at(known).enrich_alert(labels("DGXSparkNodeDown", node="dgx-spark-03"), {})
    assert context["_missing"] == []
    lines = visible(context)
    ports = known.data.node03
    assert lines["exporters down"] == f"dcgm ({ports['dcgm']}), node ({ports['node']})"
    assert lines["exporters up"] == "none"
    # Down since end-4m30s; the last-seen subquery resolves to 30 s.
    for job in ("dcgm", "node"):
        ago = re.search(rf"{job}: (\d+)m (\d+)s ago", lines["last seen"])
        assert ago, lines["last seen"]
        assert 240 <= int(ago.group(1)) * 60 + int(ago.group(2)) <= 330
    assert lines["other nodes"] == "dgx-spark-01: up · dgx-spark-02: up · dgx-spark-04: up"
    assert lines["TCP from the bridge"] == f"{ports['dcgm']} refused · {ports['node']} refused"
    assert context["_key"] == (
        "all 2 exporters down (dcgm, node); TCP from the bridge: 0 of 2 ports open"
    )


def test_exporter_down_while_the_node_answers(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(labels("ExporterDown", node="dgx-spark-04"), {})
    lines = visible(context)
    assert lines["exporters down"] == f"dcgm ({known.data.node04_dcgm})"
    assert lines["exporters up"] == f"node ({known.data.node04_node})"
    assert lines["TCP from the bridge"] == (
        f"{known.data.node04_dcgm} refused · {known.data.node04_node} open"
    )
    assert context["_key"].startswith("dcgm down, 1 of 2 exporters answer")


def test_cpu_context_has_load_memory_and_inference_activity(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(labels("HighCPUUsage"), {})
    assert context["_missing"] == []
    lines = visible(context)
    assert lines["CPU busy"] == "95 %"
    assert lines["load"] == "12.5 / 10.0 / 8.0 (1 / 5 / 15 min) on 4 CPUs"
    assert lines["memory used"] == "95 % (121.6 GiB of 128.0 GiB)"
    assert lines["memory breakdown"] == (
        "available 6.4 GiB · page cache 10.0 GiB · buffers 512.0 MiB · free 2.0 GiB"
    )
    assert lines["GPU utilisation"] == "97 %"
    assert lines["tokens generated (vLLM)"] == "250/s"
    assert context["_key"] == "CPU busy 95 %"


def test_underutilised_gpu_context_leads_with_gpu_utilisation(known: KnownPrometheus) -> None:
    context = enricher_at(known).enrich_alert(labels("GPUUnderutilized", node="dgx-spark-02"), {})
    lines = visible(context)
    assert lines["GPU utilisation"] == "5 %" and lines["GPU utilisation, 1 h avg"] == "5 %"
    assert lines["CPU busy"] == "10 %"
    assert context["_key"] == "GPU utilisation 5 %"


# -- configuration -----------------------------------------------------------------------------


def test_configured_queries_replace_and_extend_the_defaults(known: KnownPrometheus) -> None:
    config = parse_enrichment(
        {
            "alerts": {
                "GPUTemperatureCritical": {
                    "queries": {
                        "power draw": {
                            "expr": 'max(DCGM_FI_DEV_POWER_USAGE{node="{node}"}) * 2',
                            "unit": "watts",
                        },
                        "GPU utilisation": {
                            "expr": 'max(DCGM_FI_DEV_GPU_UTIL{node="{node}",gpu="{gpu}"})',
                            "unit": "percent",
                        },
                    }
                }
            }
        }
    )
    context = enricher_at(known, config).enrich_alert(labels("GPUTemperatureCritical"), {})
    lines = visible(context)
    assert lines["power draw"] == "262 W"
    assert lines["GPU utilisation"] == "97 %"
    assert lines["GPU temperature"] == "87 °C"


def test_a_query_prometheus_rejects_is_reported_with_its_reason(known: KnownPrometheus) -> None:
    config = parse_enrichment(
        {"alerts": {"GPUTemperatureCritical": {"queries": {"broken": 'max(up{node="{node}"'}}}}
    )
    context = enricher_at(known, config).enrich_alert(labels("GPUTemperatureCritical"), {})
    (entry,) = context["_missing"]
    assert entry["what"] == "broken"
    assert entry["why"].startswith("query rejected by Prometheus (HTTP 400, bad_data:")
    assert visible(context)["GPU temperature"] == "87 °C"  # the rest still arrived


def test_a_label_value_cannot_change_the_query(known: KnownPrometheus) -> None:
    hostile = 'dgx-spark-01"} or vector(1) or up{node="x'
    context = enricher_at(known).enrich_alert(labels("GPUTemperatureCritical", node=hostile), {})
    assert "GPU temperature" not in visible(context)  # no such node: no data, not vector(1)
    assert {m["what"] for m in context["_missing"]} >= {"GPU temperature"}


# -- through the bridge: webhook → enrichment → PagerDuty and Slack replicas ----------------------


def test_the_page_and_the_slack_message_carry_the_context_and_the_chart(
    recent_known: KnownPrometheus,
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    slack: FakeSlack,
) -> None:
    settings = replace(
        live_settings, prometheus_url=recent_known.url, public_url="https://bridge.example.org"
    )
    app = make_app(settings, engine)
    firing = alert(annotations={"summary": "GPU 0 on dgx-spark-01 is hot", "threshold": "85 °C"})
    post(app, payload(firing))
    settle(app)

    (trigger,) = pagerduty.triggers()
    assert trigger["payload"]["summary"] == (
        "[CRITICAL] GPUTemperatureCritical on dgx-spark-01 GPU 0: "
        "87 °C, trend +1.7 °C/min (threshold 85 °C)"
    )
    details = trigger["payload"]["custom_details"]
    assert details["GPU temperature"] == "87 °C"
    assert details["throttle reasons"] == "SW thermal slowdown, HW thermal slowdown (0x60)"
    assert "missing context" not in details
    (image,) = trigger["images"]
    pd_row = next(d for d in deliveries(engine) if d["channel"] == "pagerduty")
    assert image["src"].startswith(f"https://bridge.example.org/charts/{pd_row['id']}.png?key=")

    # The image URL serves the chart the context stored.
    path = image["src"].removeprefix("https://bridge.example.org")
    served = app.test_client().get(path)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert served.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert app.test_client().get(f"/charts/{pd_row['id']}.png?key=wrong").status_code == 404
    # /alerts shows the context but not the key that opens the chart.
    key = image["src"].rsplit("key=", 1)[1]
    listed = app.test_client().get("/alerts").get_data(as_text=True)
    assert "GPU temperature" in listed and key not in listed

    (message,) = slack.top_level()
    rendered = json.dumps(message.blocks, ensure_ascii=False)
    assert "87 °C" in rendered and "SM clock" in rendered
    (upload,) = [f for f in slack.files.values() if f.completed]
    assert upload.thread_ts == message.ts
    assert upload.data is not None and upload.data.startswith(b"\x89PNG")

    # Both rows hold the context; it was fetched once per delivery and never again.
    rows = deliveries(engine)
    assert all(r["context"]["GPU temperature"] == "87 °C" for r in rows)


def test_a_failed_chart_upload_does_not_fail_the_slack_delivery(
    recent_known: KnownPrometheus, live_settings: Settings, engine: Engine, slack: FakeSlack
) -> None:
    slack.fail_next("files.getUploadURLExternal", status=500)
    app = make_app(replace(live_settings, prometheus_url=recent_known.url), engine)
    post(app, payload(alert()))
    settle(app)
    assert len(slack.top_level()) == 1
    row = next(d for d in deliveries(engine) if d["channel"] == "slack")
    assert row["status"] == "delivered" and row["attempts"] == 1


def api_requests(url: str) -> float:
    """How many query API calls Prometheus has served (its own metric)."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("prometheus_http_requests_total")
        and ('handler="/api/v1/query"' in line or 'handler="/api/v1/query_range"' in line)
    )


def test_a_retried_page_reuses_the_stored_context_without_querying_again(
    known: KnownPrometheus,
    live_settings: Settings,
    engine: Engine,
    pagerduty: FakePagerDuty,
    tmp_path: Path,
) -> None:
    config = tmp_path / "bridge.yml"
    # PagerDuty only, and no cache: every query the bridge sends reaches Prometheus.
    config.write_text(
        "routes:\n  - match: {severity: critical}\n    channels: [pagerduty]\n"
        "enrichment:\n  cache_ttl: 0s\n"
    )
    settings = replace(live_settings, prometheus_url=known.url, config_path=str(config))
    firing = alert()
    plan = plan_for(firing["labels"], firing["annotations"], parse_enrichment({"cache_ttl": "0s"}))
    per_enrichment = len(plan.queries) + (1 if plan.chart is not None else 0)
    pagerduty.fail_next(500)
    app = make_app(settings, engine)
    before = api_requests(known.url)
    post(app, payload(firing))
    settle(app)

    (pd,) = deliveries(engine)
    assert (pd["status"], pd["attempts"]) == ("delivered", 2)
    assert api_requests(known.url) - before == per_enrichment  # once, not once per attempt
    # The attempt that got through carried the context the first attempt stored.
    (trigger,) = pagerduty.triggers()
    assert "GPU temperature" in trigger["payload"]["custom_details"]
