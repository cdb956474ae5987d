"""The SQLite file a tracker look-alike keeps its data in: schema, connections, transactions, wipe.

One file (WAL) per look-alike, one connection per request (``request_db``), so data survives a restart
and concurrent request threads do not share a connection. What differs between the trackers comes in
as class attributes of a ``SqliteStore`` subclass: the schema, the first id of each AUTOINCREMENT
table (a fresh Jira numbers from 10000) and the tables a wipe empties.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

from flask import g


class SqliteStore:
    """The SQLite file: schema, connections and wipe; a subclass names its ``schema``, the first id of
    each AUTOINCREMENT table (``first_ids``) and the tables a wipe empties (``data_tables``)."""

    schema: ClassVar[str]
    first_ids: ClassVar[Mapping[str, int]]
    data_tables: ClassVar[Sequence[str]]

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.connect()
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(self.schema)
            self._seed_ids(conn)
        finally:
            conn.close()

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _seed_ids(self, conn: sqlite3.Connection) -> None:
        for table, first in self.first_ids.items():
            conn.execute(
                "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)",
                (table, first - 1, table),
            )

    def wipe(self) -> None:
        conn = self.connect()
        try:
            with transaction(conn):
                for table in self.data_tables:
                    conn.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
                for table, first in self.first_ids.items():
                    conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", (first - 1, table))
        finally:
            conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that takes the write lock up front (no upgrade deadlocks between writers)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def request_db(store: SqliteStore) -> sqlite3.Connection:
    """This request's connection (opened on first use, closed by ``close_request_db``)."""
    if "sandbox_db" not in g:
        g.sandbox_db = store.connect()
    conn: sqlite3.Connection = g.sandbox_db
    return conn


def close_request_db(_exc: BaseException | None) -> None:
    conn = g.pop("sandbox_db", None)
    if conn is not None:
        conn.close()


def millis_stamp(moment: datetime, zone: str) -> str:
    """``2024-01-15T10:20:30.123`` in UTC followed by ``zone`` (``"Z"``, ``"+0000"``): how both trackers
    write the times they store and answer."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}{zone}"
