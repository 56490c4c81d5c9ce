"""interegular's automaton construction, with a budget (pure, deterministic).

Building a DFA from a regex can take exponential time and memory: interegular needs
30 s for `(a|b)*a(a|b){12}`, and a window's regex comes from whoever posts one. Every
construction goes through interegular's module-level `crawl`; this replaces it with
the same breadth-first crawl (states found by hash instead of a list scan) that counts
the transitions it follows and gives up with `TooLarge` when the budget of the current
question runs out. Outside `budget()` nothing is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

from interegular import fsm as _fsm

# Transitions followed for one question. Windows' regexes need a few hundred (`(?s).+`: 78;
# a five-way alternation of prefixes: 555); a budget of 10,000 is spent in about 0.1 s even
# on the regexes whose automata explode, while following 50,000 can take seconds.
MAX_TRANSITIONS = 10_000

_remaining: ContextVar[list[int] | None] = ContextVar("automaton_budget", default=None)


class TooLarge(Exception):
    """The automaton would exceed the budget: the question is left undecided."""


@contextmanager
def budget(transitions: int = MAX_TRANSITIONS) -> Iterator[None]:
    token = _remaining.set([transitions])
    try:
        yield
    finally:
        _remaining.reset(token)


def _crawl(alphabet: Any, initial: Any, final: Callable[[Any], bool], follow: Any) -> Any:
    remaining = _remaining.get()
    states = [initial]
    index: dict[Any, int] = {}
    _remember(index, initial, 0)
    finals = set()
    transitions: dict[int, dict[Any, int]] = {}
    i = 0
    while i < len(states):
        state = states[i]
        if final(state):
            finals.add(i)
        transitions[i] = {}
        for transition in alphabet.by_transition:
            if remaining is not None:
                remaining[0] -= 1
                if remaining[0] < 0:
                    raise TooLarge
            try:
                following = follow(state, transition)
            except _fsm.OblivionError:
                continue  # a dead state: not listed
            j = _find(index, states, following)
            if j is None:
                j = len(states)
                states.append(following)
                _remember(index, following, j)
            transitions[i][transition] = j
        i += 1
    return _fsm.FSM(
        alphabet=alphabet,
        states=range(len(states)),
        initial=0,
        finals=finals,
        map=transitions,
        __no_validation__=True,
    )


def _remember(index: dict[Any, int], state: Any, position: int) -> None:
    with suppress(TypeError):  # an unhashable state is found by scanning instead
        index[state] = position


def _find(index: dict[Any, int], states: list[Any], state: Any) -> int | None:
    try:
        return index.get(state)
    except TypeError:
        return states.index(state) if state in states else None


_fsm.crawl = _crawl
