"""Builders and a thread starter shared by the store's tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import journal
from store.links import NewLink


def entry(external_id: str = "tg:1", **overrides: object) -> journal.NewEntry:
    """A Telegram message for the journal; keyword arguments replace any field."""
    values: dict[str, object] = {
        "channel": "telegram",
        "external_id": external_id,
        "conversation_key": "tg:1:0",
        "kind": "new",
        "body": "{}",
    }
    values.update(overrides)
    return journal.NewEntry(**values)  # type: ignore[arg-type]


def new_link(conversation: str = "tg:42:0", key: str = "SUP-1", **overrides: object) -> NewLink:
    """A Jira issue link for a conversation; keyword arguments replace any field."""
    values: dict[str, object] = {
        "conversation_key": conversation,
        "tracker": "jira",
        "issue_key": key,
        "issue_url": f"http://jira.test/browse/{key}",
        "channel": "telegram",
        "message_id": "m" * 24,
    }
    values.update(overrides)
    return NewLink(**values)  # type: ignore[arg-type]


def at_once(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(n)`` in ``count`` threads released together; return each result or raised exception."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except Exception as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@contextmanager
def batch_held(
    engine: Engine,
    behind: int,
    released: threading.Event | None = None,
    reached: threading.Event | None = None,
) -> Iterator[None]:
    """Hold the first journal write in the block (its ``messages`` INSERT; ``reached`` is set there)
    until ``behind`` more records of this process wait for it, then until ``released`` is set when
    given: the records behind it are then written together, as one batch."""
    group = journal.group_commit(engine)
    first = [True]

    def hold(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not (first and statement.startswith("INSERT INTO messages")):
            return
        first.clear()
        if reached is not None:
            reached.set()
        deadline = time.monotonic() + 30  # a bound for a broken test, not a measurement
        while group.waiting < behind and time.monotonic() < deadline:
            time.sleep(0.002)
        if released is not None:
            released.wait(30)

    sa.event.listen(engine, "before_cursor_execute", hold)
    try:
        yield
    finally:
        sa.event.remove(engine, "before_cursor_execute", hold)


def commits(engine: Engine) -> list[int]:
    """A list that grows by one for each transaction committed on ``engine`` from now on."""
    seen: list[int] = []
    sa.event.listen(engine, "commit", lambda _conn: seen.append(1))
    return seen
