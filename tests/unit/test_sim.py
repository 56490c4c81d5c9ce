"""The simulator over HTTP: scrape each exporter like Prometheus would, inject faults through
the control API, and check that exactly the right series change."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from bridge.sim import cli
from bridge.sim.faults import Exporter
from bridge.sim.simulator import SimConfig, Simulator
from bridge.sim.snapshots import VllmNames
from bridge.sim.targets import write_file_sd

GB10, DC = "dgx-spark-01", "dgx-spark-02"  # the default flavours, assigned in order


class FakeClock:
    """Time that moves only when a test says so: rates become exact arithmetic."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def sim(clock: FakeClock) -> Iterator[Simulator]:
    config = SimConfig(
        base_port=0,
        control_port=0,
        xid_window_seconds=60,
        vllm_names=(VllmNames.V1, VllmNames.LEGACY),
    )
    with Simulator(config, clock=clock) as simulator:
        yield simulator


@pytest.fixture(autouse=True)
def no_faults_left(sim: Simulator) -> Iterator[None]:
    yield
    requests.delete(control(sim, "/faults"), timeout=5).raise_for_status()


def control(sim: Simulator, path: str) -> str:
    return sim.control.url(path)


def url_of(sim: Simulator, node: str, exporter: Exporter) -> str:
    return next(u for n, e, u in sim.endpoints() if n == node and e is exporter)


def scrape(sim: Simulator, node: str, exporter: Exporter) -> dict[str, list[Sample]]:
    response = requests.get(url_of(sim, node, exporter), timeout=5)
    response.raise_for_status()
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(sim: Simulator, node: str, exporter: Exporter, name: str, **labels: str) -> float:
    matches = [
        s
        for s in scrape(sim, node, exporter).get(name, [])
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(matches) == 1, f"{name}{labels} on {node}: {matches}"
    return matches[0].value


def inject(sim: Simulator, **body: object) -> dict[str, object]:
    response = requests.post(control(sim, "/faults"), json=body, timeout=5)
    assert response.status_code == 201, response.text
    result: dict[str, object] = response.json()
    return result


def refuses(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


# -- baseline --------------------------------------------------------------------------------


@pytest.mark.parametrize("node", [GB10, DC])
@pytest.mark.parametrize("exporter", list(Exporter))
def test_every_exporter_serves_parseable_metrics(
    sim: Simulator, node: str, exporter: Exporter
) -> None:
    assert scrape(sim, node, exporter)


def test_gb10_has_no_framebuffer_series_and_datacenter_has(sim: Simulator) -> None:
    gb10, dc = scrape(sim, GB10, Exporter.DCGM), scrape(sim, DC, Exporter.DCGM)
    assert not any(name.startswith("DCGM_FI_DEV_FB_") for name in gb10)
    assert "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL" not in gb10
    assert gb10["DCGM_FI_DEV_MEM_COPY_UTIL"][0].value == 0
    used, free = dc["DCGM_FI_DEV_FB_USED"][0].value, dc["DCGM_FI_DEV_FB_FREE"][0].value
    assert 0.4 < used / (used + free) < 0.6
    assert "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL" in dc


def test_dcgm_labels_are_dcgm_exporters_and_leave_node_to_prometheus(sim: Simulator) -> None:
    labels = scrape(sim, GB10, Exporter.DCGM)["DCGM_FI_DEV_GPU_TEMP"][0].labels
    assert set(labels) == {"gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname"}
    assert labels["gpu"] == "0"
    assert labels["device"] == "nvidia0"
    assert labels["modelName"] == "NVIDIA GB10"
    assert labels["Hostname"] == GB10
    assert labels["UUID"].startswith("GPU-")
    dc_labels = scrape(sim, DC, Exporter.DCGM)["DCGM_FI_DEV_GPU_TEMP"][0].labels
    assert dc_labels["modelName"] == "NVIDIA H100 80GB HBM3"


def test_healthy_baseline(sim: Simulator) -> None:
    for node in (GB10, DC):
        assert 45 <= value(sim, node, Exporter.DCGM, "DCGM_FI_DEV_GPU_TEMP") <= 65
        assert 50 <= value(sim, node, Exporter.DCGM, "DCGM_FI_DEV_GPU_UTIL") <= 70
        assert value(sim, node, Exporter.DCGM, "DCGM_FI_DEV_XID_ERRORS") == 0
        assert value(sim, node, Exporter.DCGM, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS") == 0
        assert "DCGM_EXP_CLOCK_EVENTS_COUNT" not in scrape(sim, node, Exporter.DCGM)
        host = scrape(sim, node, Exporter.NODE)
        ratio = host["node_memory_MemAvailable_bytes"][0].value / (
            host["node_memory_MemTotal_bytes"][0].value
        )
        assert 0.4 < ratio < 0.6
    assert value(sim, GB10, Exporter.NODE, "node_memory_MemTotal_bytes") == 128 * 2**30
    assert 0 < value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_POWER_USAGE") <= 140
    assert value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_SM_CLOCK") <= 2450


def test_node_exporter_has_the_series_the_rules_read(sim: Simulator) -> None:
    host = scrape(sim, GB10, Exporter.NODE)
    for name in (
        "node_cpu_seconds_total",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_memory_MemFree_bytes",
        "node_memory_Buffers_bytes",
        "node_memory_Cached_bytes",
        "node_memory_Slab_bytes",
        "node_pressure_memory_waiting_seconds_total",
        "node_pressure_memory_stalled_seconds_total",
        "node_vmstat_oom_kill",
        "node_network_receive_bytes_total",
        "node_boot_time_seconds",
        "node_filesystem_readonly",
    ):
        assert name in host, name
    modes = {s.labels["mode"] for s in host["node_cpu_seconds_total"]}
    assert {"idle", "iowait", "steal", "user", "system"} <= modes
    root = host["node_filesystem_avail_bytes"][0].labels
    assert (root["mountpoint"], root["fstype"]) == ("/", "ext4")


def test_vllm_serves_v1_names_or_legacy_names_per_node(sim: Simulator) -> None:
    v1, legacy = scrape(sim, GB10, Exporter.VLLM), scrape(sim, DC, Exporter.VLLM)
    assert "vllm:kv_cache_usage_perc" in v1
    assert "vllm:gpu_cache_usage_perc" not in v1
    assert "vllm:inter_token_latency_seconds_bucket" in v1
    assert "vllm:gpu_cache_usage_perc" in legacy
    assert "vllm:time_per_output_token_seconds_bucket" in legacy
    for samples in (v1, legacy):
        for name in (
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:prompt_tokens_total",
            "vllm:generation_tokens_total",
            "vllm:num_preemptions_total",
            "vllm:request_success_total",
            "vllm:time_to_first_token_seconds_bucket",
            "vllm:e2e_request_latency_seconds_count",
            "vllm:request_queue_time_seconds_sum",
        ):
            assert name in samples, name
        labels = samples["vllm:num_requests_running"][0].labels
        assert labels["engine"] == "0"
        assert labels["model_name"]


def test_spark_serves_servlet_gauges_on_its_own_path(sim: Simulator) -> None:
    master, worker = scrape(sim, GB10, Exporter.SPARK), scrape(sim, DC, Exporter.SPARK)
    assert master["metrics_master_aliveWorkers_Value"][0].labels == {"type": "gauges"}
    assert any(n.endswith("_driver_BlockManager_memory_memUsed_MB_Value") for n in master)
    assert "metrics_worker_executors_Value" in worker
    wrong_path = url_of(sim, GB10, Exporter.SPARK).replace("/metrics/prometheus", "/metrics")
    assert requests.get(wrong_path, timeout=5).status_code == 404


def test_counters_advance_with_time(sim: Simulator, clock: FakeClock) -> None:
    before = value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
    clock.advance(10)
    after = value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
    # mJ: about 10 s at 60-120 W
    assert 600_000 < after - before < 1_200_000


# -- faults ----------------------------------------------------------------------------------


def test_overheat_sets_the_gpu_temperature(sim: Simulator) -> None:
    inject(sim, node=GB10, fault="overheat", value=91)
    assert value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_GPU_TEMP") == pytest.approx(91, abs=1)
    assert value(sim, DC, Exporter.DCGM, "DCGM_FI_DEV_GPU_TEMP") < 70
    requests.delete(control(sim, "/faults"), timeout=5)
    assert value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_GPU_TEMP") < 70


def test_memory_pressure_on_gb10_fills_unified_memory(sim: Simulator, clock: FakeClock) -> None:
    psi = "node_pressure_memory_waiting_seconds_total"
    calm_start = value(sim, GB10, Exporter.NODE, psi)
    clock.advance(10)
    calm = value(sim, GB10, Exporter.NODE, psi) - calm_start
    inject(sim, node=GB10, fault="memory_pressure")
    host = scrape(sim, GB10, Exporter.NODE)
    used = 1 - host["node_memory_MemAvailable_bytes"][0].value / (
        host["node_memory_MemTotal_bytes"][0].value
    )
    assert used == pytest.approx(0.97, abs=0.01)
    start = value(sim, GB10, Exporter.NODE, psi)
    clock.advance(10)
    assert value(sim, GB10, Exporter.NODE, psi) - start > 100 * calm
    assert value(sim, GB10, Exporter.VLLM, "vllm:kv_cache_usage_perc") > 0.95
    assert "DCGM_FI_DEV_FB_USED" not in scrape(sim, GB10, Exporter.DCGM)


def test_memory_pressure_on_datacenter_fills_the_framebuffer(sim: Simulator) -> None:
    inject(sim, node=DC, fault="memory_pressure")
    used = value(sim, DC, Exporter.DCGM, "DCGM_FI_DEV_FB_USED")
    free = value(sim, DC, Exporter.DCGM, "DCGM_FI_DEV_FB_FREE")
    assert used / (used + free) == pytest.approx(0.97, abs=0.01)
    host = scrape(sim, DC, Exporter.NODE)
    host_used = 1 - host["node_memory_MemAvailable_bytes"][0].value / (
        host["node_memory_MemTotal_bytes"][0].value
    )
    assert host_used < 0.6  # the host's RAM is not the GPU's memory here
    assert value(sim, DC, Exporter.VLLM, "vllm:gpu_cache_usage_perc") > 0.95


def test_xid_sets_the_sticky_gauge_and_the_windowed_count(sim: Simulator, clock: FakeClock) -> None:
    inject(sim, node=GB10, fault="xid", code=79)
    dcgm = scrape(sim, GB10, Exporter.DCGM)
    (sticky,) = dcgm["DCGM_FI_DEV_XID_ERRORS"]
    assert sticky.value == 79
    assert sticky.labels["err_code"] == "79"
    assert "fallen off the bus" in sticky.labels["err_msg"]
    (count,) = dcgm["DCGM_EXP_XID_ERRORS_COUNT"]
    assert (count.labels["xid"], count.value) == ("79", 1)
    clock.advance(61)  # past the 60 s window of this fixture
    dcgm = scrape(sim, GB10, Exporter.DCGM)
    assert dcgm["DCGM_FI_DEV_XID_ERRORS"][0].value == 79  # still: that is the trap
    assert "DCGM_EXP_XID_ERRORS_COUNT" not in dcgm
    requests.delete(control(sim, "/faults"), timeout=5)
    assert value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_XID_ERRORS") == 0


def test_exporter_down_refuses_connections_until_cleared(sim: Simulator) -> None:
    dcgm_url = url_of(sim, GB10, Exporter.DCGM)
    inject(sim, node=GB10, fault="exporter_down", exporter="dcgm")
    assert refuses(dcgm_url)
    assert not refuses(url_of(sim, GB10, Exporter.NODE))
    assert not refuses(url_of(sim, DC, Exporter.DCGM))
    requests.delete(control(sim, "/faults"), params={"node": GB10}, timeout=5)
    assert scrape(sim, GB10, Exporter.DCGM)  # same port as before


def test_node_down_refuses_every_exporter_of_the_node(sim: Simulator) -> None:
    inject(sim, node=DC, fault="node_down")
    for exporter in Exporter:
        assert refuses(url_of(sim, DC, exporter)), exporter
        assert not refuses(url_of(sim, GB10, exporter)), exporter
    nodes = requests.get(control(sim, "/nodes"), timeout=5).json()["nodes"]
    dc = next(n for n in nodes if n["node"] == DC)
    assert not any(e["up"] for e in dc["exporters"].values())
    requests.delete(control(sim, "/faults"), timeout=5)
    for exporter in Exporter:
        assert scrape(sim, DC, exporter)


def test_cpu_high_makes_cpu_seconds_advance_busy(sim: Simulator, clock: FakeClock) -> None:
    inject(sim, node=GB10, fault="cpu_high", value=96)
    first = scrape(sim, GB10, Exporter.NODE)["node_cpu_seconds_total"]
    clock.advance(30)
    second = scrape(sim, GB10, Exporter.NODE)["node_cpu_seconds_total"]

    def idle(samples: list[Sample]) -> float:
        return sum(s.value for s in samples if s.labels["mode"] in ("idle", "iowait", "steal"))

    cpus = len({s.labels["cpu"] for s in first})
    busy = 1 - (idle(second) - idle(first)) / (30 * cpus)
    assert busy == pytest.approx(0.96, abs=0.02)


def test_underutilized_drops_gpu_utilisation(sim: Simulator) -> None:
    inject(sim, node=DC, fault="underutilized")
    assert value(sim, DC, Exporter.DCGM, "DCGM_FI_DEV_GPU_UTIL") == 2


def test_throttle_sets_clock_event_reasons_and_lowers_the_clock(sim: Simulator) -> None:
    normal = value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_SM_CLOCK")
    inject(sim, node=GB10, fault="throttle", value=0x4)
    assert value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_CLOCKS_EVENT_REASONS") == 4
    events = scrape(sim, GB10, Exporter.DCGM)["DCGM_EXP_CLOCK_EVENTS_COUNT"]
    assert [s.labels["clock_event"] for s in events] == ["sw_power_cap"]
    assert value(sim, GB10, Exporter.DCGM, "DCGM_FI_DEV_SM_CLOCK") < normal / 1.5


# -- control API -----------------------------------------------------------------------------


def test_control_api_lists_and_clears_faults_per_node(sim: Simulator) -> None:
    inject(sim, node=GB10, fault="overheat")
    inject(sim, node=DC, fault="cpu_high")
    listed = requests.get(control(sim, "/faults"), timeout=5).json()["faults"]
    assert {(f["node"], f["fault"]) for f in listed} == {(GB10, "overheat"), (DC, "cpu_high")}
    cleared = requests.delete(control(sim, "/faults"), params={"node": DC}, timeout=5).json()
    assert cleared == {"cleared": 1}
    listed = requests.get(control(sim, "/faults"), timeout=5).json()["faults"]
    assert [(f["node"], f["fault"]) for f in listed] == [(GB10, "overheat")]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"node": "dgx-spark-09", "fault": "overheat"}, 404, None),
        ({"node": GB10, "fault": "meltdown"}, 400, "fault"),
        ({"node": GB10, "fault": "xid"}, 400, "code"),
        (["not", "an", "object"], 400, None),
    ],
)
def test_control_api_rejects_bad_faults_with_a_json_error(
    sim: Simulator, body: object, status: int, field: str | None
) -> None:
    response = requests.post(control(sim, "/faults"), json=body, timeout=5)
    assert response.status_code == status
    error = response.json()
    assert error["error"]
    if field is not None:
        assert error["detail"]["field"] == field
    assert requests.get(control(sim, "/faults"), timeout=5).json() == {"faults": []}


def test_healthz(sim: Simulator) -> None:
    assert requests.get(control(sim, "/healthz"), timeout=5).json() == {"status": "ok"}


def test_targets_point_at_the_exporters_with_node_and_role(sim: Simulator) -> None:
    targets = requests.get(control(sim, "/targets"), timeout=5).json()
    assert set(targets) == {"dcgm", "node", "vllm", "spark"}
    for job, groups in targets.items():
        assert [g["labels"] for g in groups] == [
            {"node": GB10, "role": "master"},
            {"node": DC, "role": "worker"},
        ]
        for group in groups:
            (address,) = group["targets"]
            assert url_of(sim, group["labels"]["node"], Exporter(job)).startswith(
                f"http://{address}/"
            )
    one = requests.get(control(sim, "/targets/dcgm"), params={"format": "yaml"}, timeout=5)
    assert yaml.safe_load(one.text) == targets["dcgm"]


def test_write_targets_writes_one_file_sd_file_per_job(sim: Simulator, tmp_path: Path) -> None:
    written = write_file_sd(tmp_path, sim.targets())
    assert sorted(p.name for p in written) == [
        "dcgm-targets.yml",
        "node-targets.yml",
        "spark-targets.yml",
        "vllm-targets.yml",
    ]
    assert yaml.safe_load((tmp_path / "node-targets.yml").read_text()) == sim.targets()["node"]
    assert not list(tmp_path.glob(".*.tmp"))


# -- CLI -------------------------------------------------------------------------------------


def test_cli_defaults_match_the_documented_layout() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    config = cli.config_from_args(parser.parse_args([]))
    assert (config.base_port, config.control_port) == (19400, 19399)
    assert [(s.name, s.flavour.value, s.role) for s in config.specs] == [
        ("dgx-spark-01", "gb10", "master"),
        ("dgx-spark-02", "datacenter", "worker"),
    ]
    legacy = cli.config_from_args(parser.parse_args(["--vllm-legacy-names", "--nodes", "3"]))
    assert {s.vllm_names for s in legacy.specs} == {VllmNames.LEGACY}
    assert [s.flavour.value for s in legacy.specs] == ["gb10", "datacenter", "gb10"]


def test_cli_rejects_an_unknown_flavour(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["--flavours", "gb10,a100"])
    assert "gb10,datacenter" in capsys.readouterr().err
