"""The one path from alert-derived text into Slack mrkdwn: escaping, links, truncation.

Labels, annotations, enrichment values, node names and PagerDuty text are data, never
markup. In mrkdwn `&`, `<` and `>` are the control characters: `<!channel>`, `<!here>`,
`<@U…>` and `<https://evil.example|Open PagerDuty>` all need a `<`, so escaping the three
leaves none of them (https://docs.slack.dev/messaging/formatting-message-text#escaping).
A link's href is a URL the reader opens: only absolute http(s) URLs, percent-encoded so
that no `|`, `<`, `>` or whitespace can end it early and show a text of the payload's
choosing. Pure functions; `notify/`, `digest/` and `interact/` all use this module.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# Characters an href keeps as they are (RFC 3986 reserved and unreserved, and `%` so an
# already-encoded URL stays as it is); everything else, `|<>"` and spaces included, is
# percent-encoded.
_HREF_SAFE = ";/?:@&=+$,-_.!~*'()#%[]"
TRUNCATED = "… [truncated]"
# An entity the cut may have split (`&am`), or a link it opened and did not close.
_OPEN_ENTITY = re.compile(r"&[a-z]{0,3}$")


def escape(text: str) -> str:
    """Text shown as it is: Slack's three control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_href(url: str) -> str | None:
    """`url` ready to stand inside `<…|…>`, or None when it is no http(s) URL to link to."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    # Slack writes `&` inside links as `&amp;` too; an encoded `|` cannot end the href.
    return quote(url, safe=_HREF_SAFE).replace("&", "&amp;")


def link(url: str, text: str) -> str:
    """`<href|text>`, or the text alone (escaped) when the URL is no http(s) URL."""
    href = safe_href(url)
    shown = escape(text).replace("|", "¦")
    if href is None:
        return shown
    return f"<{href}|{shown}>"


def truncate(text: str, limit: int, marker: str = TRUNCATED) -> str:
    """Cut mrkdwn to `limit` characters, saying so, never inside an entity or a link:
    a half `&amp;` shows as garbage, a half `<url|text` swallows what follows."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - len(marker))]
    entity = _OPEN_ENTITY.search(head)
    if entity:
        head = head[: entity.start()]
    opened, closed = head.rfind("<"), head.rfind(">")
    if opened > closed:
        head = head[:opened]
    return head + marker
