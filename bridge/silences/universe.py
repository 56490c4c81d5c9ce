"""Whether a matcher accepts every value its label can have: what "mutes every alert"
means, decided by what the matcher accepts rather than by how it is written (pure).

A set of matchers (all must hold) mutes every alert exactly when each matcher accepts
every value of its label: if one rejects a value, the alert carrying that value is not
muted. The values a label can have:
- `alertname` and `severity`: names, so non-empty text on one line. Prometheus gives
  every alert a name, and an alert without a severity is routed nowhere, so
  `alertname!=""`, `alertname=~".+"` or `severity=~"(?s).+"` mute every alert that
  matters;
- any other label: any text, the empty one included (an alert without the label).

Regexes are turned into automata (`interegular`) and the question becomes whether the
label's domain minus the accepted language is empty. Every answer is checked against
RE2 itself, the engine that really matches: a value the automaton says is rejected
must be rejected by RE2, and RE2 must accept a fixed set of probe values. Where the
automaton library cannot read a construct (`\\pL`, `^`, `\\b`, POSIX classes) or
disagrees with RE2, the probes alone decide, which errs towards "mutes everything":
a window is then refused and the user asked to narrow it, never silently accepted.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import interegular
from interegular.fsm import Alphabet, anything_else

from bridge.silences.automata import TooLarge, budget
from bridge.silences.matching import Matcher
from bridge.silences.regex import regex_accepts

# Labels every alert that can page or post has, so their absence is not a value.
ALWAYS_PRESENT = frozenset({"alertname", "severity"})

# Values an alert's label plausibly has, and awkward ones: used to check the automaton's
# answer against RE2 and to decide alone where the automaton cannot be built.
PROBES = (
    "",
    "a",
    "Z",
    "0",
    "_",
    "-",
    " ",
    "\n",
    "\t",
    "\r\n",
    ".",
    "é",
    "日本",
    "🔥",
    "\u00a0",
    "GPUTemperatureHigh",
    "Watchdog",
    "AlertingPipelineDown",
    "critical",
    "warning",
    "info",
    "dgx-spark-01",
    "10.0.0.2:9400",
    "line one\nline two",
    "x" * 300,
)
# Constructs `interegular` reads with Python's meaning, not RE2's, or not at all.
_UNREADABLE = ("[:", "{,", "\\p", "\\P", "\\Q", "\\z", "\\A", "\\x{", "(?U", "(?m")


def _domain(label: str) -> str:
    return ".+" if label in ALWAYS_PRESENT else "(?s).*"  # `.`: anything but a line break


def _in_domain(label: str, value: str) -> bool:
    if label in ALWAYS_PRESENT:
        return bool(value) and "\n" not in value
    return True


def accepts_every_value(matcher: Matcher) -> bool:
    """Whether `matcher` accepts every value its label can have."""
    if not matcher.is_regex:
        if matcher.is_equal:
            return False  # a label has more than one possible value
        return not _in_domain(matcher.name, matcher.value)  # `alertname!=""`
    return _regex_covers(matcher.name, matcher.value, matcher.is_equal)


def matches_everything(matchers: Sequence[Matcher]) -> bool:
    return all(accepts_every_value(m) for m in matchers)


@lru_cache(maxsize=256)
def _regex_covers(label: str, pattern: str, is_equal: bool) -> bool:
    """`=~`: the regex accepts every value of the domain; `!~`: it accepts none."""

    def accepted(value: str) -> bool:
        return regex_accepts(pattern, value) == is_equal

    probes_hold = all(accepted(v) for v in PROBES if _in_domain(label, v))
    if not probes_hold:
        return False  # a value the matcher rejects, found by RE2 itself
    automaton = _automaton_answer(label, pattern, is_equal)
    if automaton is None:
        return True  # undecidable here: refuse rather than risk muting everything
    covered, witness = automaton
    if covered:
        return True
    # The automaton's counterexample must convince RE2 too, or the automaton misread.
    return witness is None or accepted(witness)


def _automaton_answer(label: str, pattern: str, is_equal: bool) -> tuple[bool, str | None] | None:
    """(covers the domain, a counterexample value) from automata; None when unreadable."""
    if any(token in pattern for token in _UNREADABLE) or _has_anchor(pattern):
        return None
    try:
        with budget():
            return _decide(label, pattern, is_equal)
    except TooLarge:
        return None
    except Exception:  # any construct the library cannot model
        return None


def _decide(label: str, pattern: str, is_equal: bool) -> tuple[bool, str | None]:
    domain_pattern = interegular.parse_pattern(_domain(label))
    regex_pattern = interegular.parse_pattern(pattern)
    flags = interegular.REFlags(0)
    alphabet, _ = Alphabet.union(
        domain_pattern.get_alphabet(flags), regex_pattern.get_alphabet(flags)
    )
    domain = domain_pattern.to_fsm(alphabet)
    language = regex_pattern.to_fsm(alphabet)
    rest = (
        domain.difference(language)  # type: ignore[no-untyped-call]
        if is_equal
        else domain.intersection(language)  # type: ignore[no-untyped-call]
    )
    if rest.empty():
        return True, None
    return False, _witness(rest, alphabet)


def _has_anchor(pattern: str) -> bool:
    """An unescaped `^` or `$` outside a character class (`[^a]` is a class, not an anchor)."""
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            i += 1
            if pattern[i : i + 1] == "^":
                i += 1
            if pattern[i : i + 1] == "]":  # a leading `]` is a literal
                i += 1
            continue
        elif char in "^$":
            return True
        i += 1
    return False


def _witness(rest: interegular.FSM, alphabet: Alphabet) -> str | None:
    """One string the automaton accepts, with a character for `anything_else`."""
    spare = next((c for c in ("\U0010fffd", "\ufffd", "~", "q") if c not in alphabet), None)
    for chars in rest.strings():  # type: ignore[no-untyped-call]
        if anything_else in chars and spare is None:
            return None
        return "".join(str(spare) if c is anything_else else str(c) for c in chars)
    return None
