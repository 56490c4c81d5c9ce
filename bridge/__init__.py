"""Alert bridge for NVIDIA DGX Spark clusters: Alertmanager webhook → dedup → PagerDuty, Slack."""

__version__ = "0.1.0"
