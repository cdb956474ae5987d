"""The web processes' turn at a SQLite journal (store/write_lock.py): one process at a time, a forked
child included (it inherits its parent's descriptors, and must not inherit its parent's turn)."""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa

from store import write_lock
from store.db import create_db_engine
from tests.forking import in_child


def test_a_child_forked_during_its_parents_turn_waits_for_the_turn_to_end(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'hub.sqlite3'}")
    marker = tmp_path / "parent-done"
    outcome: list[dict[str, object]] = []

    def child_turn() -> bool:
        with write_lock.turn(engine):
            return marker.exists()  # the parent's turn is over only once it wrote the marker

    with write_lock.turn(engine):
        child = threading.Thread(target=lambda: outcome.append(in_child(child_turn)))
        child.start()
        child.join(0.5)  # a child sharing the parent's turn would be through by now
        marker.write_text("done")
    child.join(30)
    assert outcome == [{"ok": True}]
    engine.dispose()


def test_postgresql_and_memory_databases_need_no_turn(tmp_path: Path) -> None:
    memory = create_db_engine("sqlite://")
    assert write_lock.lock_path(memory) is None
    with write_lock.turn(memory):  # nothing to take
        pass
    assert write_lock.lock_path(sa.create_engine("postgresql+psycopg://u@127.0.0.1:1/db")) is None
    assert write_lock.lock_path(create_db_engine(f"sqlite:///{tmp_path / 'a.sqlite3'}")) == str(
        tmp_path / "a.sqlite3.write-lock"
    )
