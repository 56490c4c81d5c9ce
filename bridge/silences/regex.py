"""Regular expressions in matchers, compiled and matched as Alertmanager does (pure).

Alertmanager compiles a regex matcher's value as `^(?:value)$` with Go's `regexp`
(RE2 syntax, linear time). Python's `re` backtracks: `(a+)+b` against 26 `a`s held
the interpreter for seconds, and it accepted lookahead, backreferences and `\\Z`,
which Alertmanager refuses, so such a window stayed "pending" forever. RE2 (the
`google-re2` binding of the C++ library Go's engine follows) matches in linear time
and refuses what Go refuses, except two constructs Go never took: `\\C` (any byte)
and, before Go 1.22 (Alertmanager 0.25 is built with an older Go), `(?<name>...)`.
Those two are refused here by a scan, so whatever the bridge accepts, every
supported Alertmanager accepts.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused regex is the user's mistake, reported to them


class RegexRefused(ValueError):
    """Alertmanager would refuse this regex; the message says why."""


def _go_only_refusals(pattern: str) -> str | None:
    """Why Go's regexp refuses what RE2 C++ takes, or None (a scan that knows escapes,
    `\\Q...\\E` literals and character classes, where `(` is only a character)."""
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escaped = pattern[i + 1 : i + 2]
            if escaped == "C":
                return "\\C (any byte) is not supported by Alertmanager's Go regexp"
            if escaped == "Q":
                end = pattern.find("\\E", i + 2)
                i = len(pattern) if end < 0 else end + 2
                continue
            i += 2
            continue
        if in_class:
            if char == "[" and pattern[i + 1 : i + 2] == ":":
                end = pattern.find(":]", i + 2)
                i = len(pattern) if end < 0 else end + 2
                continue
            if char == "]":
                in_class = False
        elif char == "[":
            in_class = True
            i += 1
            # `]` first in a class (after an optional `^`) is a literal.
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":
                i += 1
            continue
        elif pattern.startswith("(?<", i) and pattern[i + 3 : i + 4] not in ("=", "!"):
            return "(?<name>...) needs Go 1.22; write (?P<name>...)"
        i += 1
    return None


@lru_cache(maxsize=1024)
def compile_matcher(pattern: str) -> Any:
    """The compiled `^(?:pattern)$`; `RegexRefused` with the reason when Alertmanager would
    refuse it. The pattern must also compile on its own: `a)|(b` would compile inside
    Alertmanager's wrapper but mean something else than it says."""
    why = _go_only_refusals(pattern)
    if why:
        raise RegexRefused(why)
    for text in (pattern, f"^(?:{pattern})$"):
        try:
            compiled = re2.compile(text, _OPTIONS)
        except re2.error as exc:
            raise RegexRefused(_reason(exc)) from None
    return compiled


def _reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    return f"not accepted by RE2, Alertmanager's regex engine: {detail}"


def regex_accepts(pattern: str, value: str) -> bool:
    """Whether Alertmanager's regex matcher with `pattern` accepts `value` (linear time)."""
    return compile_matcher(pattern).search(value) is not None
