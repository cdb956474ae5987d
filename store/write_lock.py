"""The web processes' turn at writing a SQLite journal, taken with ``flock`` on a file beside it.

SQLite lets one connection write at a time; a connection that finds the write lock taken sleeps in its
busy handler (1 ms, then 2, 5, 10 ms...) and looks again, whether or not the lock was freed meanwhile.
With the web processes' batches (store/group_commit.py) written back to back, those sleeps were most of
the wait. A process that waits on this lock instead sleeps in the kernel and wakes the moment the writer
before it is done. SQLite's own locking still decides: processes that do not take this lock (the
workers) are only waited for the old way, and a crashed holder's lock goes with its file descriptor.

PostgreSQL (and an in-memory SQLite) needs no such turn: :func:`turn` is then a no-op.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.engine import Engine

_opened: dict[str, int] = {}  # lock file path → this process's descriptor
_opening = threading.Lock()


def lock_path(engine: Engine) -> str | None:
    """The lock file of ``engine``'s SQLite database, None when it has none (PostgreSQL, memory)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}.write-lock"


@contextmanager
def turn(engine: Engine) -> Iterator[None]:
    """Hold this process's turn at writing ``engine``'s SQLite file for the block."""
    path = lock_path(engine)
    if path is None:
        yield
        return
    fd = _descriptor(path)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


def _descriptor(path: str) -> int:
    fd = _opened.get(path)
    if fd is None:
        with _opening:
            fd = _opened.get(path)
            if fd is None:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                _opened[path] = fd
    return fd


def _forget_after_fork() -> None:
    """In a forked child: open the lock files anew. A descriptor inherited from the parent is the same
    open file, and ``flock`` would take the parent's turn as its own."""
    global _opening
    for fd in _opened.values():
        os.close(fd)
    _opened.clear()
    _opening = threading.Lock()


os.register_at_fork(after_in_child=_forget_after_fork)
