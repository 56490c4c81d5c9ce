"""PromQL templates filled with an alert's labels: `DCGM_FI_DEV_GPU_TEMP{node="{node}"}`,
or with a UTF-8 label name (Prometheus 3): `host_temp{"host.name"="{host.name}"}`.

Label values come from the webhook payload, so they are untrusted text: a placeholder may
only stand inside a double-quoted PromQL string, and the value is escaped for that string.
A crafted label can then change which series match, never the shape of the query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# `{label}`: a legacy name (`node`) or a UTF-8 one as Prometheus 3 accepts by default and
# OpenTelemetry and Kubernetes write them (`host.name`, `app.kubernetes.io/name`, `k8s-node`);
# PromQL quotes such a name on the selector side: `{"host.name"="{host.name}"}`. A letter or
# `_` first, no space or brace, so regex quantifiers (`{2,3}`) are never placeholders.
PLACEHOLDER = re.compile(r"\{([^\W\d][\w.:/-]*)\}")


class TemplateError(ValueError):
    """A template that can never render safely (found when the configuration loads)."""


class MissingLabel(KeyError):
    """The alert lacks a label the template needs; the query is skipped, not guessed."""

    def __init__(self, label: str) -> None:
        super().__init__(label)
        self.label = label


def escape_promql_string(value: str) -> str:
    """Escape for the inside of a double-quoted PromQL string (Go string-literal rules)."""
    out = []
    for char in value:
        if char in ('"', "\\"):
            out.append("\\" + char)
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def _string_spans(template: str) -> list[tuple[int, int, str]]:
    """(start, end, quote) of every PromQL string literal; raises on an unclosed one."""
    spans = []
    i = 0
    while i < len(template):
        char = template[i]
        if char == "#":  # a PromQL comment runs to the end of the line
            end = template.find("\n", i)
            i = len(template) if end < 0 else end
            continue
        if char in ('"', "'", "`"):
            j = i + 1
            while j < len(template) and template[j] != char:
                # Raw (`) strings have no escapes.
                j += 2 if template[j] == "\\" and char != "`" else 1
            if j >= len(template):
                raise TemplateError(f"unclosed string starting at character {i + 1}")
            spans.append((i, j + 1, char))
            i = j + 1
            continue
        i += 1
    return spans


def placeholders(template: str) -> list[str]:
    """Label names the template uses; raises `TemplateError` for an unsafe placement."""
    spans = _string_spans(template)
    names = []
    for match in PLACEHOLDER.finditer(template):
        inside = next((q for s, e, q in spans if s < match.start() and match.end() < e), None)
        if inside != '"':
            raise TemplateError(
                f"{match.group(0)} must stand inside a double-quoted string, "
                f'e.g. node="{match.group(0)}"'
            )
        names.append(match.group(1))
    return names


def render(template: str, labels: Mapping[str, str]) -> str:
    """The template with each `{label}` replaced by its escaped value.

    Raises `MissingLabel` when the alert has no such label (or an empty one): a query
    about `node=""` would silently answer about every unlabelled series instead.
    """
    placeholders(template)

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = labels.get(name, "")
        if not value:
            raise MissingLabel(name)
        return escape_promql_string(value)

    return PLACEHOLDER.sub(fill, template)
