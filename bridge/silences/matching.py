"""Alertmanager-style label matchers, evaluated the way Alertmanager does."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bridge.silences.regex import RegexRefused, regex_accepts


@dataclass(frozen=True)
class Matcher:
    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if not self.is_regex:
            return (actual == self.value) == self.is_equal
        try:
            return regex_accepts(self.value, actual) == self.is_equal
        except RegexRefused:
            # Stored before such regexes were refused: Alertmanager never took the silence,
            # so the window mutes nothing here either (never a 500 on the webhook).
            return False

    def as_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    def __str__(self) -> str:
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[
            (self.is_regex, self.is_equal)
        ]
        return f'{self.name}{op}"{self.value}"'

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Matcher:
        return cls(
            name=str(data["name"]),
            value=str(data["value"]),
            is_regex=bool(data.get("isRegex", False)),
            is_equal=bool(data.get("isEqual", True)),
        )


def all_match(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def matches_empty_label_set(matchers: Sequence[Matcher]) -> bool:
    """Alertmanager refuses such a silence: one matcher must fail on the empty label set."""
    return all(m.matches({}) for m in matchers)


# The alerting pipeline's own health: Watchdog, and the bridge's page when it is missing.
PIPELINE_ALERTS = ("Watchdog", "AlertingPipelineDown")


def _names_watchdog(matchers: Sequence[Matcher]) -> bool:
    return any(
        m.name == "alertname" and m.value == "Watchdog" and m.is_equal and not m.is_regex
        for m in matchers
    )


def mutes(matchers: Sequence[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether a window with `matchers` holds back an alert with `labels`.

    A node window must never hide that the whole pipeline is down: the Watchdog
    and its dead-man's page are muted only by a window naming
    `alertname="Watchdog"` explicitly.
    """
    if labels.get("alertname") in PIPELINE_ALERTS:
        if not _names_watchdog(matchers):
            return False
        return all_match([m for m in matchers if m.name != "alertname"], labels)
    return all_match(matchers, labels)
