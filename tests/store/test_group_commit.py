"""Group commit (store/group_commit.py): concurrent ``journal.record`` calls of one process share one
transaction, and each caller still returns only once its own row is committed, or hears its own error."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store import journal
from store.group_commit import GroupCommit
from tests.forking import in_child
from tests.store.helpers import at_once, batch_held, commits, entry


def test_records_arriving_together_are_committed_together(engine: Engine) -> None:
    committed = commits(engine)
    with batch_held(engine, behind=7):
        results = at_once(8, lambda n: journal.record(engine, entry(f"tg:{n}", raw=f"update {n}".encode())))
    assert all(isinstance(r, tuple) for r in results), results
    # the first alone, the seven that queued behind it in one transaction
    assert len(committed) == 2
    for n, (message_id, _) in enumerate(results):  # type: ignore[misc]
        row = journal.get(engine, message_id)
        assert row is not None and row.external_id == f"tg:{n}"
        assert journal.get_blob(engine, row.raw_blob_id or "") == f"update {n}".encode()


def test_a_duplicate_in_a_batch_fails_only_its_own_caller(engine: Engine) -> None:
    first, _ = journal.record(engine, entry("tg:seen"))
    ids = ["tg:lead", "tg:new-1", "tg:seen", "tg:new-2"]
    with batch_held(engine, behind=3):
        results = at_once(4, lambda n: journal.record(engine, entry(ids[n])))
    duplicate = results[2]
    assert isinstance(duplicate, journal.DuplicateMessage) and duplicate.message_id == first
    for n in (0, 1, 3):
        message_id, _ = results[n]  # type: ignore[misc]
        assert journal.get(engine, message_id).external_id == ids[n]  # type: ignore[union-attr]
    assert journal.count_by_status(engine) == {"queued": 4}


def test_one_message_twice_in_one_batch_is_one_row_and_one_answer_for_both(engine: Engine) -> None:
    with batch_held(engine, behind=2):
        results = at_once(3, lambda n: journal.record(engine, entry("tg:lead" if n == 0 else "tg:twice")))
    recorded = [r for r in results[1:] if isinstance(r, tuple)]
    duplicates = [r for r in results[1:] if isinstance(r, journal.DuplicateMessage)]
    assert len(recorded) == 1 and len(duplicates) == 1, results
    assert duplicates[0].message_id == recorded[0][0]
    assert journal.count_by_status(engine) == {"queued": 2}


def test_a_batch_the_database_refuses_answers_every_caller_and_the_next_one_is_written(
    engine: Engine,
) -> None:
    def fail_once(conn: sa.Connection, *_args: object) -> None:
        sa.event.remove(engine, "before_cursor_execute", fail_once)
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    sa.event.listen(engine, "before_cursor_execute", fail_once)
    with pytest.raises(sa.exc.OperationalError):
        journal.record(engine, entry("tg:refused"))
    assert journal.count_by_status(engine) == {}
    message_id, _ = journal.record(engine, entry("tg:refused"))  # the sender's retry: nobody is stuck
    assert journal.get(engine, message_id) is not None


def test_every_caller_of_a_failed_batch_hears_the_error_and_none_is_left_waiting() -> None:
    arrived, release = threading.Event(), threading.Event()
    batches: list[list[int]] = []

    def write(items: Sequence[int]) -> list[None]:
        batch = list(items)
        batches.append(batch)
        if len(batches) == 1:
            arrived.set()
            release.wait(30)
        if len(batches) == 2:
            raise RuntimeError("disk full")
        return [None] * len(batch)

    group: GroupCommit[int, None] = GroupCommit(write)
    first = threading.Thread(target=group.submit, args=(0,))
    first.start()
    arrived.wait(30)
    followers = [threading.Thread(target=lambda n=n: errors.append(_error_of(group, n))) for n in (1, 2, 3)]
    errors: list[str] = []
    for thread in followers:
        thread.start()
    while group.waiting < 3:
        threading.Event().wait(0.002)
    release.set()
    for thread in [first, *followers]:
        thread.join(30)
    assert sorted(batches[1]) == [1, 2, 3] and errors == ["disk full"] * 3
    assert group.submit(4) is None and batches[2] == [4]


def _error_of(group: GroupCommit[int, None], item: int) -> str:
    try:
        group.submit(item)
    except RuntimeError as exc:
        return str(exc)
    return "no error"


def test_recording_starts_no_thread(engine: Engine) -> None:
    # gunicorn forks its workers from a master that loaded the app: a thread there would not survive
    before = set(threading.enumerate())
    at_once(4, lambda n: journal.record(engine, entry(f"tg:{n}")))
    assert set(threading.enumerate()) == before


def test_a_child_forked_while_a_batch_is_written_records_on_its_own(engine: Engine) -> None:
    # the parent is mid-batch when it forks: the child must not wait for a batch it never sees end
    forked, release, writing = threading.Event(), threading.Event(), threading.Event()
    os.register_at_fork(after_in_parent=forked.set)
    with batch_held(engine, behind=0, released=release, reached=writing):
        parent = threading.Thread(target=journal.record, args=(engine, entry("tg:parent")))
        parent.start()
        assert writing.wait(30)

        def record_in_child() -> str:
            signal.alarm(20)  # a child stuck on the parent's batch fails instead of hanging the test
            return journal.record(engine, entry("tg:child"))[0]

        outcome: list[dict[str, object]] = []
        child = threading.Thread(target=lambda: outcome.append(in_child(record_in_child)))
        child.start()
        forked.wait(30)
        release.set()  # the parent's turn at a SQLite file ends; the child takes its own
        child.join(30)
        parent.join(30)
    assert "ok" in outcome[0], outcome
    assert journal.get(engine, str(outcome[0]["ok"])).external_id == "tg:child"  # type: ignore[union-attr]
    assert journal.find_by_external_id(engine, "telegram", "tg:parent") is not None
