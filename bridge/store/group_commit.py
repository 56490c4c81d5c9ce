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
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# At most this many items per transaction: a long batch would hold the write lock (and
# every request in it) for longer than the transactions it saves.
MAX_BATCH = 16


class _Slot(Generic[Item, Result]):
    """One request's item. Its thread waits on `wake`, released when its outcome is in
    or it is handed a lead (one lock per thread: waking one never wakes the others)."""

    __slots__ = ("done", "error", "item", "key", "leading", "result", "wake")

    def __init__(self, item: Item, key: object) -> None:
        self.item = item
        self.key = key
        self.done = False
        self.leading = False  # its thread holds one of the leads
        self.result: Result | None = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()
        self.wake.acquire()


BatchRunner = Callable[[Sequence[Item]], Sequence["Result | BaseException"]]


class GroupCommit(Generic[Item, Result]):
    """`run(item)` runs `item` in a batch with whatever other threads submit meanwhile.

    `run_batch(items)` returns one result or exception per item, in order; an exception it
    raises itself is the answer to every item of the batch. Items with different `key`s
    (e.g. another routing after a config reload) never share a batch. At most
    `max_leaders` batches run at once.
    """

    def __init__(
        self,
        run_batch: BatchRunner[Item, Result],
        max_batch: int = MAX_BATCH,
        max_leaders: int = 1,
    ) -> None:
        self._run_batch = run_batch
        self._max_batch = max(1, max_batch)
        # More than one batch at a time: while one waits for the database, another
        # prepares its statements (PostgreSQL; SQLite has one writer anyway).
        self._max_leaders = max(1, max_leaders)
        self._waiting: list[_Slot[Item, Result]] = []  # not yet in a batch, oldest first
        self._leaders = 0
        self._lock = threading.Lock()

    def run(self, item: Item, key: object = None) -> Result:
        slot: _Slot[Item, Result] = _Slot(item, key)
        with self._lock:
            self._waiting.append(slot)
            if self._leaders < self._max_leaders:
                self._leaders += 1
                slot.leading = True
        while True:
            # Every decision under the lock; `wake` only says "look again".
            with self._lock:
                if slot.done:
                    if slot.leading:
                        self._hand_on(slot)
                    break
                batch = self._take() if slot.leading and self._waiting else []
                if slot.leading and not batch:  # another leader has its item
                    self._hand_on(slot)
            if batch:
                # A leader leads until its own item is done: its next batch may hold it.
                self._lead(batch)
            else:
                slot.wake.acquire()
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
        with self._lock:
            for slot, outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    slot.error = outcome
                else:
                    slot.result = outcome
                slot.done = True
                _signal(slot)

    def _hand_on(self, holder: _Slot[Item, Result]) -> None:
        """(Under the lock.) `holder`'s lead goes to the oldest waiting request without
        one, or lapses."""
        holder.leading = False
        successor = next((s for s in self._waiting if not s.leading), None)
        if successor is None:
            self._leaders -= 1
        else:
            successor.leading = True
            _signal(successor)


def _signal(slot: _Slot[Item, Result]) -> None:
    """(Under the lock.) Wake the slot's thread to look again, if not woken already."""
    if slot.wake.locked():
        slot.wake.release()
