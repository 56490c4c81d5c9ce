"""Test replicas of PagerDuty Events API v2 and the Slack Web API (the only fakes allowed).

Submodules are loaded lazily so ``python -m tests.fakes.pagerduty`` does not import the
module twice (runpy warns when a package import already loaded the ``-m`` target).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.pagerduty import FakePagerDuty
    from tests.fakes.server import HTTPSServer
    from tests.fakes.slack import FakeSlack
    from tests.fakes.tls import TestCA

_EXPORTS = {
    "FakePagerDuty": "tests.fakes.pagerduty",
    "FakeSlack": "tests.fakes.slack",
    "HTTPSServer": "tests.fakes.server",
    "TestCA": "tests.fakes.tls",
}

__all__ = ["FakePagerDuty", "FakeSlack", "HTTPSServer", "TestCA"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
