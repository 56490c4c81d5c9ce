"""A missing tool skips a test on a developer's machine and fails it in CI.

`scripts/test.sh` installs every tool the suite drives (Debian packages: prometheus,
prometheus-alertmanager, chromium, curl, ...), so in CI a missing one is a broken setup that
must not pass as a skip. `.ci/run` sets BRIDGE_REQUIRE_TOOLS=1; CI=true does the same.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def tools_required() -> bool:
    return os.environ.get("BRIDGE_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true"


def missing_tool(reason: str) -> NoReturn:
    """Skip (a developer's machine) or fail (CI) the test that needs what is missing."""
    if tools_required():
        pytest.fail(f"{reason}; required in CI (scripts/test.sh installs it)", pytrace=False)
    pytest.skip(reason)
