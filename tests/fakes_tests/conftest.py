"""The replicas' own fixtures (other suites may define their own or import these)."""

from tests.fakes.fixtures import fake_ca, fake_pagerduty, fake_slack  # noqa: F401
