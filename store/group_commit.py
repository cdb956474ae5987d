"""Group commit: the threads of one process that write at the same moment share one transaction.

A web process has several request threads, and each used to write its journal row in a transaction of
its own: with SQLite every one of them took the database's one write lock in turn (sleeping in SQLite's
busy handler while another held it) and paid a COMMIT. Here a thread hands its item in and waits; the
first thread that finds no batch being written becomes the leader, takes every item handed in so far,
writes them together (one transaction) and wakes the others with their own outcome. Items handed in
while a leader writes wait for the next leader, which is one of them.

No thread of its own, on purpose: nothing to start after gunicorn forks a preloaded app's workers, and
nothing to drain at exit, since every item is written by a thread that is waiting for it. A caller still
returns only once its own item is committed (journal before ack), or raises what its write raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


@dataclass(eq=False)
class _Ticket(Generic[Item, Outcome]):
    item: Item
    done: bool = False
    outcome: Outcome | BaseException | None = None


class GroupCommit(Generic[Item, Outcome]):
    """Writes the items that concurrent callers hand in, in batches, with ``write``.

    ``write(items)`` writes a batch and returns one outcome per item, in order: what :meth:`submit`
    returns to that item's caller, or an exception it raises to that caller alone. An exception out of
    ``write`` itself is raised to every caller of the batch (nothing of the batch was committed).
    """

    def __init__(self, write: Callable[[Sequence[Item]], Sequence[Outcome | BaseException]]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._waiting: list[_Ticket[Item, Outcome]] = []
        self._writing = False

    @property
    def waiting(self) -> int:
        """How many items wait for the batch being written to end."""
        with self._changed:
            return len(self._waiting)

    def submit(self, item: Item) -> Outcome:
        """Write ``item`` (with whatever else is waiting) and return its outcome once it is committed."""
        ticket: _Ticket[Item, Outcome] = _Ticket(item)
        with self._changed:
            self._waiting.append(ticket)
            while self._writing and not ticket.done:
                self._changed.wait()
            batch: list[_Ticket[Item, Outcome]] = []
            if not ticket.done:  # no batch is being written: lead the next one, this item in it
                batch, self._waiting, self._writing = self._waiting, [], True
        if batch:
            self._lead(batch)
        if isinstance(ticket.outcome, BaseException):
            raise ticket.outcome
        return ticket.outcome  # type: ignore[return-value]  # an Outcome: write() returned it

    def _lead(self, batch: list[_Ticket[Item, Outcome]]) -> None:
        outcomes: Sequence[Outcome | BaseException]
        try:
            outcomes = self._write([ticket.item for ticket in batch])
            if len(outcomes) != len(batch):
                raise RuntimeError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except BaseException as exc:  # the batch failed as a whole; each caller hears why
            outcomes = [exc] * len(batch)
        with self._changed:
            for ticket, outcome in zip(batch, outcomes, strict=True):
                ticket.outcome, ticket.done = outcome, True
            self._writing = False
            self._changed.notify_all()
