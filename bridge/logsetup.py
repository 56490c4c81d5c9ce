"""One readable line per event on stderr; secrets never reach a log call."""

from __future__ import annotations

import logging
import sys

from bridge.textsafe import one_line


class OneLineFormatter(logging.Formatter):
    """Each message on one line: alert names, labels and PagerDuty text are foreign, and a
    newline in them would otherwise write a line that looks like the bridge's own. The
    one place this is done, so no log call can forget it; tracebacks stay multi-line."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        message = record.message
        record.message = one_line(message)
        try:
            return super().formatMessage(record)
        finally:
            record.message = message


def formatter() -> logging.Formatter:
    return OneLineFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S")


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter())
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
