"""The one path into Slack mrkdwn (bridge/notify/mrkdwn.py), table-driven."""

from __future__ import annotations

import pytest

from bridge.notify.mrkdwn import escape, link, safe_href, truncate


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U0ADMIN> & <#C1>", "&lt;@U0ADMIN&gt; &amp; &lt;#C1&gt;"),
        ("&lt;", "&amp;lt;"),
        ("87 °C", "87 °C"),
    ],
)
def test_escape_leaves_no_control_character(text: str, shown: str) -> None:
    assert escape(text) == shown


@pytest.mark.parametrize(
    ("url", "href"),
    [
        ("https://grafana.example/d/x?a=1&b=2", "https://grafana.example/d/x?a=1&amp;b=2"),
        (
            "https://evil.example/login|Open PagerDuty>",
            "https://evil.example/login%7COpen%20PagerDuty%3E",
        ),
        (
            "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
            "http://prometheus:9090/graph?g0.expr=up%3D%3D0",
        ),
        ("HTTPS://example.org/<b>", "HTTPS://example.org/%3Cb%3E"),
        ("https://example.org/\nx", "https://example.org/%0Ax"),
        ("javascript:alert(1)", None),
        ("mailto:a@example.org", None),
        ("/relative/path", None),
        ("https://", None),
        ("http://[::1", None),
    ],
)
def test_only_http_urls_become_hrefs_and_nothing_ends_them_early(
    url: str, href: str | None
) -> None:
    assert safe_href(url) == href


def test_a_link_that_is_no_http_url_is_its_text_alone() -> None:
    assert link("javascript:alert(1)", "Runbook") == "Runbook"
    assert link("https://x.example", "a|b<c>") == "<https://x.example|a¦b&lt;c&gt;>"


MARKER = "… [truncated]"


@pytest.mark.parametrize(
    ("text", "kept", "cut"),
    [
        ("a &amp; b" + "x" * 40, 5, "a "),  # "a &am" would show a broken entity
        ("see <https://x.example/long|Runbook> now" + "x" * 40, 15, "see "),
        ("plain text" + "x" * 40, 5, "plain"),
    ],
)
def test_truncation_never_cuts_an_entity_or_a_link(text: str, kept: int, cut: str) -> None:
    assert truncate(text, kept + len(MARKER)) == cut + MARKER


def test_text_within_the_limit_is_not_truncated() -> None:
    assert truncate("a &amp; b", 9) == "a &amp; b"
