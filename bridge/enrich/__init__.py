"""Prometheus context for notifications: what on-call needs to act, within a time budget.

plan (pure: which queries) → runner (I/O: parallel, budget, cache) → context (pure: lines
with units, key fact, what is missing and why, chart data) → stored with the outbox row and
rendered by the notifiers (`render.py`, `chart.py`).
"""

from bridge.enrich.config import EnrichmentConfig, EnrichmentConfigError, parse_enrichment
from bridge.enrich.service import Enricher, build_enricher

__all__ = [
    "Enricher",
    "EnrichmentConfig",
    "EnrichmentConfigError",
    "build_enricher",
    "parse_enrichment",
]
