"""pytest fixtures for the replicas.

Use them from a conftest.py with
``from tests.fakes.fixtures import fake_ca, fake_pagerduty, fake_slack  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.fakes.tls import TestCA


@pytest.fixture(scope="session")
def fake_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    """One throwaway CA per session; ``fake_ca.ca_bundle`` is the BRIDGE_CA_BUNDLE path."""
    return TestCA(tmp_path_factory.mktemp("fake-ca"))


@pytest.fixture
def fake_pagerduty(fake_ca: TestCA) -> Iterator[FakePagerDuty]:
    """A running PagerDuty replica accepting any well-formed routing key."""
    with FakePagerDuty(fake_ca) as fake:
        yield fake


@pytest.fixture
def fake_slack(fake_ca: TestCA) -> Iterator[FakeSlack]:
    """A running Slack replica with token ``xoxb-test-token`` and channels #alerts, #alerts-info."""
    with FakeSlack(fake_ca) as fake:
        yield fake
