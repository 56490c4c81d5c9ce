"""The Alertmanager webhook payload (version 4) as typed, validated objects.

Parsing is pure: JSON-decoded data in, a `WebhookPayload` or a `PayloadError`
naming the offending field out. Unknown fields are accepted because newer
Alertmanager versions add some (`notification_reason`, `routeLabels`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.timeparse import TimeFormatError, parse_rfc3339

SUPPORTED_VERSION = "4"
STATUSES = ("firing", "resolved")
# Label names and values are free text in Prometheus, but a single alert with
# megabytes of labels is an attack, not monitoring.
MAX_LABELS = 64
MAX_LABEL_VALUE_CHARS = 4096
MAX_ANNOTATION_VALUE_CHARS = 16384
MAX_FINGERPRINT_CHARS = 128
# Label and annotation names: Prometheus's are identifiers; this is generous.
MAX_KEY_CHARS = 256
# generatorURL (Prometheus writes the rule's expression into it) and externalURL.
MAX_URL_CHARS = 8192
# groupKey carries the route's matchers and the group's label values.
MAX_GROUP_KEY_CHARS = 16384
MAX_RECEIVER_CHARS = 1024

# Alertmanager encodes "no end time" as Go's zero time.
GO_ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)
# Times outside this range are no alert's (Prometheus sets endsAt minutes ahead).
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
MAX_FUTURE = timedelta(days=366)


# What a decoded JSON value that is not a string is, in JSON's words.
_JSON_TYPES = {bool: "a boolean", list: "an array", dict: "an object"}


class PayloadError(ValueError):
    """Input that can never succeed: the webhook answers 400 naming `field`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Alert:
    """One alert of a webhook payload, as Alertmanager reported it."""

    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    generator_url: str
    fingerprint: str

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> str:
        return self.labels.get("severity", "")

    @property
    def node(self) -> str:
        # Rules attach `node` to every target; `instance` is the fallback for
        # alerts from foreign rule files.
        return self.labels.get("node") or self.labels.get("instance", "")

    @property
    def firing(self) -> bool:
        return self.status == "firing"


@dataclass(frozen=True)
class WebhookPayload:
    version: str
    group_key: str
    status: str
    receiver: str
    group_labels: dict[str, str]
    common_labels: dict[str, str]
    common_annotations: dict[str, str]
    external_url: str
    truncated_alerts: int
    alerts: tuple[Alert, ...] = field(default_factory=tuple)


def labels_fingerprint(labels: dict[str, str]) -> str:
    """A stable key for alerts sent without Alertmanager's fingerprint."""
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def parse_time(value: Any, field_name: str) -> datetime | None:
    """RFC 3339 time to an aware UTC datetime; Go's zero time to None."""
    if not isinstance(value, str):
        raise PayloadError(field_name, "must be an RFC 3339 timestamp string")
    try:
        parsed = parse_rfc3339(value)
    except TimeFormatError as exc:
        raise PayloadError(field_name, f"{exc}: {value[:40]!r}") from None
    return None if parsed == GO_ZERO_TIME else parsed


def _in_range(when: datetime, field_name: str, now: datetime) -> datetime:
    """A time the bridge can compute with: refused when outside the sane range, where it
    would only fail every delivery later (year 1 and 9999 overflow date arithmetic)."""
    if when < EARLIEST_TIME:
        raise PayloadError(field_name, f"is before {EARLIEST_TIME.year}: {when.isoformat()}")
    if when > now + MAX_FUTURE:
        raise PayloadError(field_name, f"is more than a year in the future: {when.isoformat()}")
    return when


def _encodable(value: str, field_name: str) -> str:
    """JSON may carry lone surrogates (`"\\ud800"`) or NUL characters that databases refuse."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(field_name, "contains an invalid Unicode escape") from None
    if "\x00" in value:
        raise PayloadError(field_name, "contains a NUL character")
    return value


def _string(
    obj: dict[str, Any], key: str, where: str, *, required: bool = True, limit: int | None = None
) -> str:
    if key not in obj:
        if required:
            raise PayloadError(f"{where}{key}", "is required")
        return ""
    value = obj[key]
    if not isinstance(value, str):
        raise PayloadError(f"{where}{key}", "must be a string")
    if limit is not None and len(value) > limit:
        raise PayloadError(f"{where}{key}", f"is longer than {limit} characters")
    return _encodable(value, f"{where}{key}")


def _string_map(obj: dict[str, Any], key: str, where: str, max_value: int) -> dict[str, str]:
    name = f"{where}{key}"
    value = obj.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(name, "must be an object of strings")
    if len(value) > MAX_LABELS * 4:
        raise PayloadError(name, f"has more than {MAX_LABELS * 4} entries")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(v, str):
            raise PayloadError(f"{name}.{k}", "must be a string")
        if len(v) > max_value:
            raise PayloadError(f"{name}.{k}", f"is longer than {max_value} characters")
        if len(k) > MAX_KEY_CHARS:
            raise PayloadError(name, f"has a name longer than {MAX_KEY_CHARS} characters")
        _encodable(k, name)
        out[k] = _encodable(v, f"{name}.{k}")
    return out


def parse_alert(obj: Any, index: int, now: datetime | None = None) -> Alert:
    where = f"alerts[{index}]."
    if not isinstance(obj, dict):
        raise PayloadError(f"alerts[{index}]", "must be an object")
    status = _string(obj, "status", where)
    if status not in STATUSES:
        raise PayloadError(f"{where}status", "must be 'firing' or 'resolved'")
    if "labels" not in obj:
        raise PayloadError(f"{where}labels", "is required")
    labels = _string_map(obj, "labels", where, MAX_LABEL_VALUE_CHARS)
    if not labels:
        raise PayloadError(f"{where}labels", "must not be empty")
    if len(labels) > MAX_LABELS:
        raise PayloadError(f"{where}labels", f"has more than {MAX_LABELS} labels")
    annotations = _string_map(obj, "annotations", where, MAX_ANNOTATION_VALUE_CHARS)
    if "startsAt" not in obj:
        raise PayloadError(f"{where}startsAt", "is required")
    now = now or datetime.now(UTC)
    starts_at = parse_time(obj["startsAt"], f"{where}startsAt")
    if starts_at is None:
        raise PayloadError(f"{where}startsAt", "must be a real time, not the zero time")
    _in_range(starts_at, f"{where}startsAt", now)
    ends_at = parse_time(obj["endsAt"], f"{where}endsAt") if "endsAt" in obj else None
    if ends_at is not None:
        _in_range(ends_at, f"{where}endsAt", now)
    fingerprint = _string(obj, "fingerprint", where, required=False)
    if len(fingerprint) > MAX_FINGERPRINT_CHARS:
        raise PayloadError(f"{where}fingerprint", f"is longer than {MAX_FINGERPRINT_CHARS}")
    return Alert(
        status=status,
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=_string(obj, "generatorURL", where, required=False, limit=MAX_URL_CHARS),
        fingerprint=fingerprint or labels_fingerprint(labels),
    )


def parse_payload(
    obj: Any, *, max_alerts: int = 1000, now: datetime | None = None
) -> WebhookPayload:
    """Validate a decoded webhook body; raise `PayloadError` on the first problem.

    `now` bounds how far in the future a time may be (default: the wall clock)."""
    if not isinstance(obj, dict):
        raise PayloadError("body", "must be a JSON object")
    version = obj.get("version")
    if version is None:
        raise PayloadError("version", "is required")
    if not isinstance(version, str):
        # `4` and "4" print alike: say it is the type that is wrong.
        kind = _JSON_TYPES.get(type(version), "a number")
        raise PayloadError("version", f'must be the string "{SUPPORTED_VERSION}", not {kind}')
    if version != SUPPORTED_VERSION:
        raise PayloadError(
            "version", f'unsupported version "{version[:20]}"; expected "{SUPPORTED_VERSION}"'
        )
    raw_alerts = obj.get("alerts")
    if raw_alerts is None:
        raise PayloadError("alerts", "is required")
    if not isinstance(raw_alerts, list):
        raise PayloadError("alerts", "must be an array")
    if len(raw_alerts) > max_alerts:
        raise PayloadError("alerts", f"has {len(raw_alerts)} alerts; the limit is {max_alerts}")
    truncated = obj.get("truncatedAlerts", 0)
    if not isinstance(truncated, int) or isinstance(truncated, bool) or truncated < 0:
        raise PayloadError("truncatedAlerts", "must be a non-negative integer")
    status = _string(obj, "status", "", required=False) or "firing"
    if status not in STATUSES:
        raise PayloadError("status", "must be 'firing' or 'resolved'")
    return WebhookPayload(
        version=version,
        group_key=_string(obj, "groupKey", "", required=False, limit=MAX_GROUP_KEY_CHARS),
        status=status,
        receiver=_string(obj, "receiver", "", required=False, limit=MAX_RECEIVER_CHARS),
        group_labels=_string_map(obj, "groupLabels", "", MAX_LABEL_VALUE_CHARS),
        common_labels=_string_map(obj, "commonLabels", "", MAX_LABEL_VALUE_CHARS),
        common_annotations=_string_map(obj, "commonAnnotations", "", MAX_ANNOTATION_VALUE_CHARS),
        external_url=_string(obj, "externalURL", "", required=False, limit=MAX_URL_CHARS),
        truncated_alerts=truncated,
        alerts=tuple(parse_alert(a, i, now) for i, a in enumerate(raw_alerts)),
    )
