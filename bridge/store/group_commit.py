"""Group commit: concurrent requests' writes done in one transaction, each answered after it.

A webhook costs a transaction (BEGIN, the write lock, a statement per table, COMMIT) and
most of that does not grow with the number of alerts. When several requests arrive while
one transaction runs, they queue here; the first thread to find no transaction running
becomes the *leader*, takes every queued item (its own among them), runs them as one batch
and hands each waiting thread its own result or error. A lone request is a batch of one
and pays nothing extra; under load the cost of a transaction is shared.

Nothing is answered before its batch committed: `run` returns (or raises) only once the
batch holding its item has finished.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# At most this many items per transaction: a long batch would hold the write lock (and
# every request in it) for longer than the transactions it saves.
MAX_BATCH = 16


@dataclass(eq=False)
class _Slot(Generic[Item, Result]):
    item: Item
    done: bool = False
    result: Result | None = None
    error: BaseException | None = None
    key: object = field(default=None)


BatchRunner = Callable[[Sequence[Item]], Sequence["Result | BaseException"]]


class GroupCommit(Generic[Item, Result]):
    """`run(item)` runs `item` in a batch with whatever other threads submit meanwhile.

    `run_batch(items)` returns one result or exception per item, in order; an exception it
    raises itself is the answer to every item of the batch. Items with different `key`s
    (e.g. another routing after a config reload) never share a batch.
    """

    def __init__(self, run_batch: BatchRunner[Item, Result], max_batch: int = MAX_BATCH) -> None:
        self._run_batch = run_batch
        self._max_batch = max(1, max_batch)
        self._waiting: list[_Slot[Item, Result]] = []
        self._leading = False
        self._changed = threading.Condition(threading.Lock())

    def run(self, item: Item, key: object = None) -> Result:
        slot: _Slot[Item, Result] = _Slot(item, key=key)
        with self._changed:
            self._waiting.append(slot)
        while True:
            with self._changed:
                while not slot.done and self._leading:
                    self._changed.wait()
                if slot.done:
                    break
                self._leading = True
                batch = self._take()
            # Its own item may not be in the batch (a longer queue, another key): it
            # then waits, or leads again, in its place in the queue.
            self._lead(batch)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _take(self) -> list[_Slot[Item, Result]]:
        """The oldest waiting items of the oldest item's key, up to the batch size."""
        key = self._waiting[0].key
        batch = [s for s in self._waiting if s.key == key][: self._max_batch]
        taken = set(map(id, batch))
        self._waiting = [s for s in self._waiting if id(s) not in taken]
        return batch

    def _lead(self, batch: list[_Slot[Item, Result]]) -> None:
        try:
            outcomes: Sequence[Result | BaseException] = self._run_batch([s.item for s in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except BaseException as exc:  # every waiting request gets it, then this one
            outcomes = [exc] * len(batch)
        with self._changed:
            for slot, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    slot.error = outcome
                else:
                    slot.result = outcome
                slot.done = True
            self._leading = False
            self._changed.notify_all()
