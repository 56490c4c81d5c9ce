"""The pure rules behind maintenance windows, table-driven: RFC 3339 times, Alertmanager's
regex semantics, "matches everything", matcher text, recurrences around DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bridge.silences.fields import parse_matcher_text
from bridge.silences.matching import Matcher
from bridge.silences.recurrence import occurrences
from bridge.silences.regex import regex_accepts
from bridge.silences.universe import accepts_every_value
from bridge.timeparse import TimeFormatError, parse_rfc3339

TIMES = [
    ("2026-12-04T18:30:00Z", datetime(2026, 12, 4, 18, 30, tzinfo=UTC)),
    ("2026-12-04t18:30:00z", datetime(2026, 12, 4, 18, 30, tzinfo=UTC)),
    ("2026-12-04T19:30:00+01:00", datetime(2026, 12, 4, 18, 30, tzinfo=UTC)),
    ("2026-12-04T18:30:00.123456789Z", datetime(2026, 12, 4, 18, 30, 0, 123456, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
]
NOT_TIMES = [
    "2026-W49-1T10:00:00Z",  # ISO week date
    "2026-338T10:00:00Z",  # ordinal date
    "20261204T183000Z",  # basic format
    "2026-12-04T18:30:00",  # no offset
    "2026-12-04 18:30:00Z",  # space: Go's RFC3339 layout takes only T
    "2026-12-04",
    "2026-02-30T00:00:00Z",
    "2026-12-04T24:00:00Z",
    "2026-12-04T18:30:00+24:00",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "２０２６-12-04T18:30:00Z",  # fullwidth digits
    "2026-12-04T18:30:00Z\n",
]


@pytest.mark.parametrize(("text", "expected"), TIMES)
def test_rfc3339_times_parse_to_utc(text: str, expected: datetime) -> None:
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize("text", NOT_TIMES)
def test_what_rfc3339_does_not_allow_is_refused(text: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_rfc3339(text)


REGEX_CASES = [
    ("GPU.*", "GPUTemperatureHigh", True),
    ("GPU.*", "xGPU", False),  # anchored at both ends, as Alertmanager anchors
    ("GPU", "GPU\n", False),  # `$` is the end of the text, not before a final newline
    (".*", "a\nb", False),  # `.` does not cross a line break
    ("(?s).*", "a\nb", True),
    ("a|b", "ab", False),  # the alternation is inside the anchors
    ("(a+)+b", "a" * 100_000, False),
    ("(a+)+b", "a" * 100_000 + "b", True),
    ("[[:digit:]]+", "0123", True),
    ("\\d", "٣", False),  # ASCII digits only, as in Go
]


@pytest.mark.parametrize(("pattern", "value", "accepted"), REGEX_CASES)
def test_regex_matchers_mean_what_alertmanager_means(
    pattern: str, value: str, accepted: bool
) -> None:
    assert regex_accepts(pattern, value) is accepted


def m(name: str, value: str, op: str = "=~") -> Matcher:
    return Matcher(name, value, "~" in op, not op.startswith("!"))


COVERS = [
    (m("alertname", ".+"), True),
    (m("alertname", ".*"), True),
    (m("alertname", "", "!="), True),
    (m("alertname", "", "!~"), True),
    (m("alertname", "x", "!="), False),
    (m("alertname", "[^\n]*"), True),
    (m("alertname", "(?i)[a-z_][a-z0-9_]*"), False),
    (m("alertname", "GPU.*|[^G].*|G[^P].*|GP[^U].*|G|GP"), True),
    (m("alertname", "GPU.*|[^G].*|G[^P].*|G|GP"), False),  # misses "GPx…"
    (m("severity", "(?s).+"), True),
    (m("severity", "critical|warning|info"), False),
    (m("node", ".+"), False),  # an alert without a node is not muted
    (m("node", ".*"), False),  # a node name with a line break is not muted
    (m("node", "(?s).*"), True),
    (m("node", "", "!="), False),
    (m("node", "x", "!~"), False),
    (m("node", "(?s).+", "!~"), False),  # mutes exactly the alerts without a node
    (m("node", "dgx-spark-02", "="), False),
    (m("alertname", "\\pL.*|\\PL.*"), True),  # decided by RE2 and probes alone
    (m("alertname", "^.+$"), True),  # anchors too
    (m("alertname", "[^G].*"), False),  # a class, not an anchor: the automaton decides
]


@pytest.mark.parametrize(("matcher", "covers"), COVERS, ids=[str(c[0]) for c in COVERS])
def test_a_matcher_covers_its_label_when_it_accepts_every_value_the_label_can_have(
    matcher: Matcher, covers: bool
) -> None:
    assert accepts_every_value(matcher) is covers


MATCHER_TEXT = [
    (
        'alertname=~"GPU.*"',
        {"name": "alertname", "value": "GPU.*", "isRegex": True, "isEqual": True},
    ),
    (
        "node = dgx-spark-02",
        {"name": "node", "value": "dgx-spark-02", "isRegex": False, "isEqual": True},
    ),
    ('severity!=""', {"name": "severity", "value": "", "isRegex": False, "isEqual": False}),
    ("job!~node.*", {"name": "job", "value": "node.*", "isRegex": True, "isEqual": False}),
    ("node\n=x", None),  # a line break is never part of a matcher
    ("1node=x", None),
    ("nöde=x", None),
]


@pytest.mark.parametrize(("text", "expected"), MATCHER_TEXT)
def test_matchers_written_as_text_read_as_the_api_objects(text: str, expected: object) -> None:
    assert parse_matcher_text(text) == expected


def test_the_repeated_wall_time_of_a_dst_fall_back_is_one_occurrence() -> None:
    """Europe/Berlin sets the clocks back at 03:00 CEST on 2027-10-31: 02:30 happens twice."""
    found = list(
        occurrences(
            "30 2 * * *",
            "Europe/Berlin",
            timedelta(hours=1),
            not_before=datetime(2027, 10, 30, 12, tzinfo=UTC),
            until=datetime(2027, 11, 1, 12, tzinfo=UTC),
        )
    )
    assert [start for start, _ in found] == [
        datetime(2027, 10, 31, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2027, 11, 1, 1, 30, tzinfo=UTC),  # 02:30 CET
    ]


@pytest.mark.timeout(60)  # without a budget this automaton takes hours to build
def test_a_regex_whose_automaton_explodes_is_decided_by_re2_alone_and_promptly() -> None:
    """`(a|b)*a(a|b){20}` has a DFA of about 2^21 states."""
    assert accepts_every_value(m("alertname", ".*|(a|b)*a(a|b){20}")) is True
    assert accepts_every_value(m("alertname", "x|(a|b)*a(a|b){20}")) is False
