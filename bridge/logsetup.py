"""One readable line per event on stderr; secrets never reach a log call."""

from __future__ import annotations

import logging
import sys


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The HTTP clients log full URLs and, at debug level, request bodies.
    # APScheduler logs every run and alembic every /readyz check: the bridge
    # records job outcomes in /metrics instead.
    for noisy in (
        "urllib3",
        "httpx2",
        "httpcore",
        "httpcore2",
        "slack_sdk",
        "pagerduty",
        "waitress.queue",
        "apscheduler",
        "alembic.runtime.migration",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
