"""The message journal: every accepted message is a row here before the sender hears 2xx.

A row moves ``queued`` → ``delivered`` | ``ignored`` | ``failed`` (a dead letter, with its reason).
``next_attempt_at`` is when the sweep should (re-)enqueue it; that is how retries, lost jobs and a
Redis outage all come home.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import secrets
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from store import write_lock
from store.db import aware, blobs, messages, upsert_insert
from store.group_commit import GroupCommit

QUEUED = "queued"
DELIVERED = "delivered"
IGNORED = "ignored"
FAILED = "failed"
# The request path enqueues at once; the sweep only steps in when that enqueue or its job was lost.
ENQUEUE_GRACE = 2  # seconds the request path has to enqueue before the sweep looks at a new row
KEY_LIMIT = 255  # the width of external_id and conversation_key
BLOB_CHUNK = 1024 * 1024  # bytes of a blob a download reads at a time


class DuplicateMessage(Exception):
    """A message with the same channel and external id is already journaled."""

    def __init__(self, message_id: str, status: str) -> None:
        super().__init__(message_id)
        self.message_id = message_id
        self.status = status


@dataclass(frozen=True)
class NewEntry:
    """What the request path journals for one message."""

    channel: str
    external_id: str
    conversation_key: str
    kind: str
    body: str  # the parsed message as JSON
    status: str = QUEUED
    reason: str | None = None
    raw: bytes | None = None


@dataclass(frozen=True)
class Entry:
    """A journal row as the worker and the status API read it."""

    id: str
    channel: str
    external_id: str
    conversation_key: str
    kind: str
    status: str
    reason: str | None
    body: str
    raw_blob_id: str | None
    tracker: str | None
    issue_key: str | None
    issue_url: str | None
    outcome: str | None
    attempts: int
    next_attempt_at: dt.datetime | None
    create_started_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


def utcnow() -> dt.datetime:
    """Timezone-aware now, the only clock the store uses."""
    return dt.datetime.now(dt.UTC)


def new_message_id() -> str:
    """A random, unguessable message id (also the tracker idempotency suffix)."""
    return secrets.token_hex(12)


def blob_id_for(content: bytes) -> str:
    """The id a blob of these bytes has (its SHA-256), known before it is stored."""
    return hashlib.sha256(content).hexdigest()


def put_blob(conn: Connection, content: bytes) -> str:
    """Store bytes once by their hash (one INSERT … ON CONFLICT DO NOTHING); return the blob id."""
    blob_id = blob_id_for(content)
    _put_blob(conn, blob_id, content)
    return blob_id


def _put_blob(conn: Connection, blob_id: str, content: bytes) -> None:
    conn.execute(
        _insert_blob_once(conn.dialect.name), {"id": blob_id, "size": len(content), "content": content}
    )


@functools.cache
def _insert_blob_once(dialect: str) -> sa.Insert:
    """The dialect's insert-or-ignore for blobs (SQLite and PostgreSQL share the ON CONFLICT form)."""
    return upsert_insert(dialect, blobs).on_conflict_do_nothing(index_elements=[blobs.c.id])


def get_blob(engine: Engine, blob_id: str) -> bytes | None:
    """The bytes of a blob, or None when unknown."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(blobs.c.content).where(blobs.c.id == blob_id)).first()
    return bytes(row[0]) if row else None


def blob_head(engine: Engine, blob_id: str, limit: int) -> tuple[bytes, int] | None:
    """The first ``limit`` bytes of a blob and its whole size, or None when unknown: a page shows the
    head of a 25 MB mail without the process holding all of it."""
    with engine.connect() as conn:
        found = _blob_reader(conn, blob_id)
        return (found[0](0, limit), found[1]) if found else None


def blob_chunks(engine: Engine, blob_id: str, size: int = BLOB_CHUNK) -> Iterator[bytes]:
    """A blob's bytes ``size`` at a time (nothing when unknown): a download of a 25 MB mail sends it
    without the process holding all of it. The connection is held until the last chunk is read."""
    with engine.connect() as conn:
        found = _blob_reader(conn, blob_id)
        if found is None:
            return
        read, total = found
        for start in range(0, total, size):
            yield read(start, size)


def _blob_reader(conn: Connection, blob_id: str) -> tuple[Callable[[int, int], bytes], int] | None:
    """A reader of ``(offset, length)`` slices of a blob and its size, or None when unknown.

    SQLite reads the slice through its incremental blob I/O (``sqlite3.Connection.blobopen``): its
    ``substr()`` would first load the whole value, 20 MB in the worker for a 256 KiB head
    (bench/console_memory.py). Other databases slice with ``substr()`` (PostgreSQL reads a slice of an
    uncompressed TOASTed value only; a compressed one is decompressed in the database, not here).
    """
    c = blobs.c
    if conn.dialect.name == "sqlite":
        row = conn.execute(sa.select(sa.literal_column("rowid"), c.size).where(c.id == blob_id)).first()
        if row is None:
            return None
        driver = conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        rowid = int(row[0])

        def read_sqlite(offset: int, length: int) -> bytes:
            with driver.blobopen("blobs", "content", rowid, readonly=True) as blob:
                blob.seek(min(offset, len(blob)))
                return blob.read(length)

        return read_sqlite, int(row[1])
    size = conn.execute(sa.select(c.size).where(c.id == blob_id)).scalar()
    if size is None:
        return None

    def read_slice(offset: int, length: int) -> bytes:
        query = sa.select(sa.func.substr(c.content, offset + 1, length)).where(c.id == blob_id)
        return bytes(conn.execute(query).scalar_one())

    return read_slice, int(size)


def fit_key(value: str, limit: int = KEY_LIMIT) -> str:
    """A key that fits its column: a longer one (a 990-character Message-ID is legal) keeps a readable
    prefix and a hash of the whole, so it stays unique and the same input always maps to the same key."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{value[: limit - 66]}~{digest}"


_INSERT_MESSAGE = messages.insert()


@dataclass(frozen=True)
class _Pending:
    """One message ready to insert: its ``messages`` row and the blobs it needs (id → bytes)."""

    row: dict[str, Any]
    blobs: dict[str, bytes]


def record(engine: Engine, entry: NewEntry, attachments: Iterable[bytes] = ()) -> tuple[str, list[str]]:
    """Journal a message and its attachment bytes; committed when this returns.

    Returns the new message id and the blob ids of the attachments, in order. Raises
    :class:`DuplicateMessage` when the channel already journaled this external id. Concurrent calls in
    one process share a transaction (store/group_commit.py): the request threads of a web process
    commit together instead of queueing for the database's write lock one by one.
    """
    message_id = new_message_id()
    now = utcnow()
    entry = replace(
        entry, external_id=fit_key(entry.external_id), conversation_key=fit_key(entry.conversation_key)
    )
    files = [(blob_id_for(data), data) for data in attachments]
    distinct = dict(files)
    raw_blob_id = None
    if entry.raw is not None:
        raw_blob_id = blob_id_for(entry.raw)
        distinct[raw_blob_id] = entry.raw
    # parameters apart from the statement, so SQLAlchemy reuses its compiled form (hot path)
    row = {
        "id": message_id,
        "channel": entry.channel,
        "external_id": entry.external_id,
        "conversation_key": entry.conversation_key,
        "kind": entry.kind,
        "status": entry.status,
        "reason": entry.reason,
        "body": entry.body,
        "raw_blob_id": raw_blob_id,
        "attempts": 0,
        "next_attempt_at": now + dt.timedelta(seconds=ENQUEUE_GRACE) if entry.status == QUEUED else None,
        "create_started_at": None,
        "created_at": now,
        "updated_at": now,
    }
    group_commit(engine).submit(_Pending(row, distinct))
    return message_id, [blob_id for blob_id, _ in files]


def _write_batch(engine: Engine, batch: Sequence[_Pending]) -> list[Exception | None]:
    """Insert a batch in one transaction. When a row breaks a constraint (a duplicate) or a column, each
    is inserted on its own, so only that row's caller hears of it; any other error (the database is
    down or locked) fails the whole batch, and every caller answers 503 as each alone would have."""
    try:
        _insert(engine, batch)
        return [None] * len(batch)
    except sa.exc.IntegrityError as exc:
        if len(batch) == 1:
            return [_duplicate(engine, batch[0], exc)]
    except sa.exc.DataError as exc:  # a value its column cannot take (PostgreSQL checks widths)
        if len(batch) == 1:
            return [exc]
    outcomes: list[Exception | None] = []
    for pending in batch:
        try:
            _insert(engine, [pending])
            outcomes.append(None)
        except sa.exc.IntegrityError as exc:
            outcomes.append(_duplicate(engine, pending, exc))
        except sa.exc.DataError as exc:
            outcomes.append(exc)
    return outcomes


def _insert(engine: Engine, batch: Sequence[_Pending]) -> None:
    """The rows of ``batch`` and their blobs, in one transaction (one executemany per table).

    The statements are compiled once per dialect and their parameters converted by the columns' own
    bind processors (:func:`_prepared`), so a batch costs SQLAlchemy no statement compiling, cache lookup
    or parameter processing: it goes to the driver's ``executemany`` as text (``exec_driver_sql``), which
    still fires the engine's events and turns driver errors into SQLAlchemy's (IntegrityError on a
    duplicate, OperationalError when the database is down or locked).
    """
    blobs_needed = {blob_id: data for pending in batch for blob_id, data in pending.blobs.items()}
    with write_lock.turn(engine), engine.begin() as conn:
        if blobs_needed:
            # each blob once, in id order: on PostgreSQL two transactions sharing files in opposite
            # orders would otherwise deadlock, each waiting on a row the other inserted but not committed
            put = _prepared(conn.dialect, "blobs", ("id", "size", "content"))
            conn.exec_driver_sql(
                put.sql,
                [
                    put.parameters({"id": blob_id, "size": len(data), "content": data})
                    for blob_id, data in sorted(blobs_needed.items())
                ],
            )
        add = _prepared(conn.dialect, "messages", tuple(batch[0].row))
        conn.exec_driver_sql(add.sql, [add.parameters(pending.row) for pending in batch])


@dataclass(frozen=True)
class _Prepared:
    """An INSERT compiled for one dialect: its SQL text, and how a row's values become its parameters."""

    sql: str
    order: tuple[str, ...] | None  # the parameters' order when the driver's style is positional
    processors: dict[str, Callable[[Any], Any]]  # column → the dialect's bind processor, where it has one

    def parameters(self, row: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        """``row``'s values as the driver takes them: what SQLAlchemy would have sent for them."""
        processors = self.processors
        if self.order is not None:
            return tuple(processors[key](row[key]) if key in processors else row[key] for key in self.order)
        return {key: processors[key](value) if key in processors else value for key, value in row.items()}


_PREPARED: dict[tuple[str, str, str, tuple[str, ...]], _Prepared] = {}


def _prepared(dialect: sa.Dialect, table: str, keys: tuple[str, ...]) -> _Prepared:
    """The request path's INSERT of the columns ``keys`` into ``table`` ("messages", or "blobs" as
    insert-or-ignore), compiled for ``dialect`` on first use. The keys are the rows' own (every row of
    :func:`record` has the same), so a value added to the row is never left out of the statement."""
    key = (dialect.name, dialect.driver, table, keys)
    found = _PREPARED.get(key)
    if found is None:
        if table == "blobs":
            statement, target = _insert_blob_once(dialect.name), blobs
        else:
            statement, target = _INSERT_MESSAGE, messages
        compiled = statement.compile(dialect=dialect, column_keys=list(keys))
        processors: dict[str, Callable[[Any], Any]] = {}
        for column in target.c:
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if column.key in keys and processor is not None:
                processors[column.key] = processor
        order = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
        found = _PREPARED[key] = _Prepared(compiled.string, order, processors)
    return found


def _duplicate(engine: Engine, pending: _Pending, error: sa.exc.IntegrityError) -> Exception:
    """What a caller whose row broke a constraint hears: :class:`DuplicateMessage` with the row already
    journaled for its external id, or the error itself when there is none."""
    existing = find_by_external_id(engine, pending.row["channel"], pending.row["external_id"])
    if existing is None:
        return error
    return DuplicateMessage(existing.id, existing.status)


_GROUPS: weakref.WeakKeyDictionary[Engine, GroupCommit[_Pending, None]] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()


def group_commit(engine: Engine) -> GroupCommit[_Pending, None]:
    """The process's group commit of :func:`record` on ``engine`` (made on first use)."""
    group = _GROUPS.get(engine)
    if group is None:
        with _GROUPS_LOCK:
            group = _GROUPS.get(engine)
            if group is None:
                group = GroupCommit(functools.partial(_write_batch, engine))
                _GROUPS[engine] = group
    return group


def _forget_groups_after_fork() -> None:
    """In a forked child: start with no group commits (a parent's may be mid-batch, its lock held)."""
    global _GROUPS_LOCK
    _GROUPS.clear()
    _GROUPS_LOCK = threading.Lock()


os.register_at_fork(after_in_child=_forget_groups_after_fork)


def find_by_external_id(engine: Engine, channel: str, external_id: str) -> Entry | None:
    """The journal row for a channel's external id, if any."""
    query = sa.select(messages).where(
        messages.c.channel == channel, messages.c.external_id == fit_key(external_id)
    )
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return entry_from_row(row) if row else None


def get(engine: Engine, message_id: str) -> Entry | None:
    """The journal row with this id, if any."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(messages).where(messages.c.id == message_id)).first()
    return entry_from_row(row) if row else None


def get_many(engine: Engine, message_ids: Sequence[str]) -> list[Entry]:
    """The journal rows of these messages that exist, in the order asked."""
    if not message_ids:
        return []
    with engine.connect() as conn:
        rows = conn.execute(sa.select(messages).where(messages.c.id.in_(list(message_ids))))
        found = {row.id: entry_from_row(row) for row in rows}
    return [found[message_id] for message_id in message_ids if message_id in found]


def mark_delivered(
    engine: Engine, message_id: str, *, tracker: str, issue_key: str, issue_url: str, outcome: str
) -> None:
    """The message reached the tracker as an issue or a comment."""
    with engine.begin() as conn:
        set_delivered(
            conn, message_id, tracker=tracker, issue_key=issue_key, issue_url=issue_url, outcome=outcome
        )


def set_delivered(
    conn: Connection, message_id: str, *, tracker: str, issue_key: str, issue_url: str, outcome: str
) -> None:
    """:func:`mark_delivered` within the caller's transaction (a delivery's last writes go together)."""
    values = {"tracker": tracker, "issue_key": issue_key, "issue_url": issue_url, "outcome": outcome}
    conn.execute(_SET_DELIVERED, {"delivered_id": message_id, "now": utcnow(), **values})


# Built once, its values bound per call: SQLAlchemy then reuses the compiled form without rebuilding
# the statement and its cache key for every delivery.
_SET_DELIVERED = (
    messages.update()
    .where(messages.c.id == sa.bindparam("delivered_id"))
    .values(
        status=DELIVERED,
        reason=None,
        next_attempt_at=None,
        updated_at=sa.bindparam("now"),
        **{name: sa.bindparam(name) for name in ("tracker", "issue_key", "issue_url", "outcome")},
    )
)


def mark_ignored(engine: Engine, message_id: str, reason: str, *, issue_key: str | None = None) -> None:
    """The message is deliberately not delivered (auto-reply, spam, unknown bounce)."""
    _update(engine, message_id, status=IGNORED, reason=reason, issue_key=issue_key, next_attempt_at=None)


def mark_failed(engine: Engine, message_id: str, reason: str) -> None:
    """A dead letter: the last attempt failed. Visible in the status API; ``replay`` re-runs it."""
    _update(engine, message_id, status=FAILED, reason=reason, next_attempt_at=None)


def due(engine: Engine, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Ids of queued messages whose next attempt is due, oldest first (the sweep's work list)."""
    return [item.id for item in due_items(engine, now, limit)]


@dataclass(frozen=True)
class DueItem:
    """A queued message the sweep should look at; ``attempts > 0`` means a lease or retry delay ran out."""

    id: str
    attempts: int


def due_items(engine: Engine, now: dt.datetime | None = None, limit: int = 500) -> list[DueItem]:
    """Like :func:`due`, with each message's attempt count."""
    now = now or utcnow()
    query = (
        sa.select(messages.c.id, messages.c.attempts)
        .where(messages.c.status == QUEUED, messages.c.next_attempt_at <= now)
        .order_by(messages.c.next_attempt_at)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [DueItem(row.id, int(row.attempts or 0)) for row in conn.execute(query)]


def due_after(engine: Engine, after: str, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Ids of due queued messages above ``after``, in id order: a long backlog read page by page.

    Id order, not time order, so a page boundary is exact whatever text SQLite holds for a time (a row a
    person made due by hand) and reading on writes nothing.
    """
    now = now or utcnow()
    query = (
        sa.select(messages.c.id)
        .where(messages.c.status == QUEUED, messages.c.next_attempt_at <= now, messages.c.id > after)
        .order_by(messages.c.id)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [row.id for row in conn.execute(query)]


def failed_ids(engine: Engine, limit: int = 1000) -> list[str]:
    """Ids of dead letters, oldest first."""
    query = sa.select(messages.c.id).where(messages.c.status == FAILED).order_by(messages.c.created_at)
    with engine.connect() as conn:
        return [row[0] for row in conn.execute(query.limit(limit))]


def newest_created(engine: Engine, channel: str) -> dt.datetime | None:
    """When the newest row of ``channel`` was journaled (None: none is). A scan, for rare questions."""
    query = sa.select(sa.func.max(messages.c.created_at)).where(messages.c.channel == channel)
    with engine.connect() as conn:
        newest = conn.execute(query).scalar()
    return aware(newest) if newest is not None else None


def count_by_status(engine: Engine) -> dict[str, int]:
    """How many journal rows are in each status (for ``/metrics``)."""
    query = sa.select(messages.c.status, sa.func.count()).group_by(messages.c.status)
    with engine.connect() as conn:
        return {status: int(count) for status, count in conn.execute(query)}


def _update(engine: Engine, message_id: str, **values: object) -> None:
    with engine.begin() as conn:
        conn.execute(
            messages.update().where(messages.c.id == message_id).values(updated_at=utcnow(), **values)
        )


def entry_from_row(row: sa.Row[Any]) -> Entry:
    data = row._mapping
    return Entry(
        id=data["id"],
        channel=data["channel"],
        external_id=data["external_id"],
        conversation_key=data["conversation_key"],
        kind=data["kind"],
        status=data["status"],
        reason=data["reason"],
        body=data["body"],
        raw_blob_id=data["raw_blob_id"],
        tracker=data["tracker"],
        issue_key=data["issue_key"],
        issue_url=data["issue_url"],
        outcome=data["outcome"],
        attempts=int(data["attempts"] or 0),
        next_attempt_at=aware(data["next_attempt_at"]),
        create_started_at=aware(data["create_started_at"]),
        created_at=aware(data["created_at"]) or utcnow(),
        updated_at=aware(data["updated_at"]) or utcnow(),
    )


def comment_events(engine: Engine, conversation_keys: Sequence[str]) -> list[tuple[str, str, dt.datetime]]:
    """The journaled comment creations of one issue (its conversations: by key, and by id for a Jira
    Server webhook that names only the id): (message id, comment id, journaled at), oldest first; what
    tells a webhook's comment from the same comment found by polling reconciliation."""
    query = (
        sa.select(messages.c.id, messages.c.body, messages.c.created_at)
        .where(messages.c.conversation_key.in_(list(conversation_keys)), messages.c.kind == "comment_created")
        .order_by(messages.c.created_at, messages.c.id)
    )
    found: list[tuple[str, str, dt.datetime]] = []
    with engine.connect() as conn:
        for message_id, body, created in conn.execute(query):
            comment_id = json.loads(body or "{}").get("comment_id")
            if comment_id:
                found.append((str(message_id), str(comment_id), aware(created) or utcnow()))
    return found
