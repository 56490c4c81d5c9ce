"""No window that does not name the Watchdog mutes the alerting pipeline's own health."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from bridge.silences.matching import Matcher, mutes
from bridge.watchdog import PIPELINE_DOWN, WATCHDOG

# The labels the bridge's own dead-man's page and Alertmanager's Watchdog carry.
PIPELINE_LABELS = (
    {"alertname": PIPELINE_DOWN, "severity": "critical", "component": "alerting"},
    {"alertname": WATCHDOG, "severity": "none"},
)

_names = st.sampled_from(["alertname", "severity", "component", "node", "team"])
_values = st.sampled_from(
    ["", PIPELINE_DOWN, WATCHDOG, "critical", "none", "alerting", ".*", ".+", "Alert.*", "Watch.*"]
)
_matchers = st.builds(
    Matcher, name=_names, value=_values, is_regex=st.booleans(), is_equal=st.booleans()
)


def _names_the_watchdog(matchers: list[Matcher]) -> bool:
    return any(
        m.name == "alertname" and m.value == WATCHDOG and m.is_equal and not m.is_regex
        for m in matchers
    )


@given(st.lists(_matchers, min_size=1, max_size=4))
def test_a_window_that_does_not_name_the_watchdog_mutes_neither_pipeline_alert(
    matchers: list[Matcher],
) -> None:
    assume(not _names_the_watchdog(matchers))  # the one window the rule lets through: below
    for labels in PIPELINE_LABELS:
        assert not mutes(matchers, labels)


def test_a_window_naming_the_watchdog_mutes_both() -> None:
    window = [Matcher("alertname", WATCHDOG)]
    assert all(mutes(window, labels) for labels in PIPELINE_LABELS)
