"""The journal's queued rows as workers hold them: claims and leases, attempts counted (and given back),
retries scheduled, a create that may have happened noted, waiting rows woken, dead letters requeued.

A claim, an attempt, a lease or a retry moves a row only while it is queued, so a job that lost its
lease cannot undo what another job finished. store/journal.py records and reads the rows themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import messages
from store.journal import FAILED, QUEUED, Entry, entry_from_row, utcnow


def claim(engine: Engine, message_id: str, lease_seconds: float) -> Entry | None:
    """A job takes a queued message and counts an attempt on it: its lease pushed out (never pulled in,
    so a retry time a tracker asked for stands), and the row as it is now (``attempts`` is this
    attempt's number).

    None when it is not queued (delivered, ignored or failed). One statement (``RETURNING``: SQLite ≥
    3.35, PostgreSQL): the job's claim and the attempt's count are one write, so a job pays for one.
    A job that then cannot have its turn gives the attempt back (``schedule_retry(refund_attempt=True)``).
    """
    now = utcnow()
    until = now + dt.timedelta(seconds=lease_seconds)
    with engine.begin() as conn:
        row = conn.execute(_CLAIM, {"claimed_id": message_id, "lease_until": until, "now": now}).first()
    return entry_from_row(row) if row else None


# Built once: a statement object caches its compiled form's key, so each claim only binds its values.
_CLAIM = (
    messages.update()
    .where(messages.c.id == sa.bindparam("claimed_id"), messages.c.status == QUEUED)
    .values(
        attempts=messages.c.attempts + 1,
        next_attempt_at=sa.case(
            (messages.c.next_attempt_at < sa.bindparam("lease_until"), sa.bindparam("lease_until")),
            else_=messages.c.next_attempt_at,
        ),
        updated_at=sa.bindparam("now"),
    )
    .returning(*messages.c)
)


def begin_attempt(engine: Engine, message_id: str, lease_seconds: float) -> Entry | None:
    """Count an attempt on a queued message and push ``next_attempt_at`` out by a lease; the row now.

    None when the message is no longer queued (a concurrent job delivered it). If the worker dies
    mid-job, the lease runs out and the sweep re-enqueues the message. One statement: the update
    returns the row (``RETURNING``: SQLite ≥ 3.35, PostgreSQL). A bulk create's companions (taken by
    their leader, not claimed by a job of their own) count their attempts here.
    """
    now = utcnow()
    return _update_queued(
        engine,
        message_id,
        attempts=messages.c.attempts + 1,
        next_attempt_at=now + dt.timedelta(seconds=lease_seconds),
        updated_at=now,
    )


def extend_leases(engine: Engine, message_ids: Sequence[str], lease_seconds: float) -> None:
    """Keep running attempts' leases alive (a bulk create's: several at once), in one statement.

    Pushes ``next_attempt_at`` out, never pulls it in, so a retry delay an attempt has just scheduled
    (a tracker's ``Retry-After``) stands.
    """
    with engine.begin() as conn:
        conn.execute(
            messages.update()
            .where(messages.c.id.in_(list(message_ids)), messages.c.status == QUEUED)
            .values(next_attempt_at=_lease_until(lease_seconds))
        )


def schedule_retry(
    engine: Engine, message_id: str, delay_seconds: float, reason: str, *, refund_attempt: bool = False
) -> None:
    """Leave the message queued, to be re-enqueued by the sweep after ``delay_seconds``.

    ``refund_attempt`` takes back the attempt :func:`claim` (or :func:`begin_attempt`) counted, when the
    attempt never reached the tracker (its circuit was open, or it waited its turn), so waiting does not
    use up the attempts.
    Only a queued message moves: one another job has delivered (or given up on) meanwhile stays so.
    """
    now = utcnow()
    values: dict[str, Any] = {
        "reason": reason,
        "next_attempt_at": now + dt.timedelta(seconds=delay_seconds),
        "updated_at": now,
    }
    if refund_attempt:
        values["attempts"] = sa.case((messages.c.attempts > 0, messages.c.attempts - 1), else_=0)
    _update_queued(engine, message_id, **values)


def mark_create_started(engine: Engine, message_id: str) -> None:
    """Note that a create may have reached the tracker, so a later attempt looks before it creates."""
    mark_creates_started(engine, [message_id])


def mark_creates_started(engine: Engine, message_ids: Sequence[str]) -> None:
    """:func:`mark_create_started` for the messages of one bulk create, in one statement."""
    with engine.begin() as conn:
        conn.execute(_MARK_CREATES_STARTED, {"started_ids": list(message_ids), "now": utcnow()})


_MARK_CREATES_STARTED = (
    messages.update()
    .where(
        messages.c.id.in_(sa.bindparam("started_ids", expanding=True)),
        messages.c.create_started_at.is_(None),
    )
    .values(create_started_at=sa.bindparam("now"))
)


def earlier_pending(engine: Engine, entry: Entry) -> bool:
    """Whether an earlier message of ``entry``'s conversation is still queued (so this one waits)."""
    return queued_before(engine, entry) is not None


def queued_before(engine: Engine, entry: Entry) -> str | None:
    """The message of ``entry``'s conversation queued right before it (the one it waits for), if any."""
    query = (
        sa.select(messages.c.id)
        .where(
            messages.c.conversation_key == entry.conversation_key,
            messages.c.status == QUEUED,
            messages.c.created_at < entry.created_at,
            messages.c.id != entry.id,
        )
        .order_by(messages.c.created_at.desc(), messages.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        found: str | None = conn.execute(query).scalar()
        return found


@dataclass(frozen=True)
class Turn:
    """Where a claimed message stands in its conversation: still queued (no other job delivered it
    meanwhile), and the message queued right before it, which it waits for (None: its turn)."""

    queued: bool
    before: str | None


def turn(engine: Engine, entry: Entry) -> Turn:
    """Whether ``entry`` is still queued and which earlier message of its conversation it waits for, in
    one query: the message itself first if it is still queued, then the newest queued one before it."""
    params = {"me": entry.id, "conversation": entry.conversation_key, "created": entry.created_at}
    with engine.connect() as conn:
        ids = [row[0] for row in conn.execute(_TURN, params)]
    if not ids or ids[0] != entry.id:
        return Turn(queued=False, before=None)
    return Turn(queued=True, before=ids[1] if len(ids) > 1 else None)


_TURN = (
    sa.select(messages.c.id)
    .where(
        messages.c.conversation_key == sa.bindparam("conversation"),
        messages.c.status == QUEUED,
        sa.or_(
            messages.c.id == sa.bindparam("me"),
            sa.and_(messages.c.created_at < sa.bindparam("created"), messages.c.id != sa.bindparam("me")),
        ),
    )
    .order_by(
        sa.case((messages.c.id == sa.bindparam("me"), 0), else_=1),
        messages.c.created_at.desc(),
        messages.c.id.desc(),
    )
    .limit(2)
)


def wake(engine: Engine, reason_prefix: str) -> int:
    """Make due now every queued message whose reason starts with ``reason_prefix``; how many.

    Used when a tracker answers again: the messages waiting for it go now, not after each one's back-off.
    """
    now = utcnow()
    pattern = reason_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    with engine.begin() as conn:
        result = conn.execute(
            messages.update()
            .where(
                messages.c.status == QUEUED,
                messages.c.reason.like(pattern, escape="\\"),
                messages.c.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )
    return int(result.rowcount or 0)


def requeue(engine: Engine, message_id: str) -> bool:
    """Put a dead letter back in the queue with a fresh attempt count (``trackerhub replay``)."""
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            messages.update()
            .where(messages.c.id == message_id, messages.c.status == FAILED)
            .values(status=QUEUED, attempts=0, next_attempt_at=now, updated_at=now)
        )
    return result.rowcount > 0


def _lease_until(lease_seconds: float) -> sa.ColumnElement[Any]:
    """``next_attempt_at`` pushed out to a lease from now, never pulled in."""
    until = utcnow() + dt.timedelta(seconds=lease_seconds)
    return sa.case((messages.c.next_attempt_at < until, until), else_=messages.c.next_attempt_at)


def _update_queued(engine: Engine, message_id: str, **values: Any) -> Entry | None:
    """Update a message only while it is queued; the row as it is now, or None if it was not queued."""
    statement = (
        messages.update()
        .where(messages.c.id == message_id, messages.c.status == QUEUED)
        .values(**values)
        .returning(*messages.c)
    )
    with engine.begin() as conn:
        row = conn.execute(statement).first()
    return entry_from_row(row) if row else None
