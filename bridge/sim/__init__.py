"""Synthetic DGX Spark exporters with injectable faults (`alert-bridge simulate`).

Each simulated node serves the same endpoints a real node does (dcgm-exporter, node_exporter,
vLLM, Spark's PrometheusServlet), each on its own port, so a real Prometheus can scrape them
with the project's own `prometheus.yml`. Faults (overheat, memory pressure, XID, a dead
exporter, a dead node...) are injected through a small JSON control API. It exists for demos and
end-to-end tests of the rules, dashboards and the bridge; nothing in production imports it.

Layout: `faults` and `state` are the pure model (no I/O, time passed in), `profiles` the hardware
constants, `snapshots` the read-only data `dcgm`/`node_exporter`/`vllm`/`spark` turn into
metric families, `httpd` serves them, `control` is the control API, `targets` the port layout
and file_sd files, `simulator` wires it together, `cli` runs it.
"""
