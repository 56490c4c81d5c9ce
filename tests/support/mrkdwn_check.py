"""What Slack would parse as markup in a message the bridge built (pure test helpers).

Slack mrkdwn's control sequences all start with `<` (mentions `<!channel>`, `<!here>`,
`<!everyone>`, `<@U…>`, `<#C…>`, `<!subteam^…>`, links `<url|text>`, dates `<!date^…>`)
and its entities with `&`. A message built from hostile alert text may carry only the
bridge's own: its links (with the bridge's own link texts) and its dates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# The texts the bridge gives its own links (notify/view.py, slack_blocks, storm_message).
OWN_LINK_TEXTS = frozenset(
    {
        "Runbook",
        "Grafana panel",
        "Grafana dashboard",
        "Silence in Alertmanager",
        "Prometheus graph",
        "incident",
        "Every alert of the storm",
    }
)
_TOKEN = re.compile(r"<[^<>]*>")
_DATE = re.compile(r"<!date\^\d+\^\{date_short_pretty\} \{time\}\|[^<>|]*>")
_LINK = re.compile(r"<(https?://[^\s<>|]+)\|([^<>|]*)>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def mrkdwn_texts(text: str | None, blocks: list[Any] | None) -> Iterator[str]:
    """Every string Slack reads as mrkdwn: the fallback `text` and mrkdwn text objects."""
    if text:
        yield text
    stack: list[Any] = list(blocks or [])
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "mrkdwn" and isinstance(item.get("text"), str):
                yield item["text"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def markup_violations(text: str) -> list[str]:
    """Each control sequence in `text` that is not the bridge's own link or date."""
    problems: list[str] = []
    rest = text
    for token in _TOKEN.findall(text):
        link = _LINK.fullmatch(token)
        if _DATE.fullmatch(token) or (link and link.group(2) in OWN_LINK_TEXTS):
            rest = rest.replace(token, "", 1)
            continue
        problems.append(f"markup {token[:80]!r}")
    rest = _TOKEN.sub("", rest)
    if "<" in rest or ">" in rest:
        problems.append(f"a bare < or > in {rest[:120]!r}")
    if _ENTITY.search(text):
        problems.append(f"an & that is not an entity in {text[:120]!r}")
    return problems


def message_violations(text: str | None, blocks: list[Any] | None) -> list[str]:
    return [p for t in mrkdwn_texts(text, blocks) for p in markup_violations(t)]
