"""Foreign text made safe for where it goes: a log line, a database column.

Pure. Payloads (Alertmanager's, PagerDuty's, Slack's) may carry newlines, escape
sequences, bidirectional overrides, lone surrogates and NUL characters.
"""

from __future__ import annotations

import re

# C0/C1 controls (newline, carriage return, ESC, ...), line/paragraph separators and
# bidirectional overrides: each can forge or hide log lines in a terminal or a log viewer.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def one_line(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(_escaped, text)


def storable(text: str) -> str:
    """`text` as every database stores it: NUL and lone surrogates become U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)
