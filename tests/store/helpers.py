"""Builders and a thread starter shared by the store's tests."""

from __future__ import annotations

import threading
from collections.abc import Callable

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
