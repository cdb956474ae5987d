"""The outbound log: one row per (message, kind) the hub sent to a customer, so a retry never sends twice."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import messages, outbound, upsert_insert
from store.journal import utcnow


@dataclass(frozen=True)
class Outbound:
    """A message the hub sent, skipped or failed to send."""

    message_id: str
    kind: str
    channel: str
    recipient: str
    status: str
    reason: str | None
    external_ref: str | None


def find(engine: Engine, message_id: str, kind: str) -> Outbound | None:
    """What the hub already did for this message and kind of outbound message."""
    query = sa.select(outbound).where(outbound.c.message_id == message_id, outbound.c.kind == kind)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return _outbound(row) if row is not None else None


def find_kind(engine: Engine, kind: str) -> Outbound | None:
    """What the hub did for an outbound key whatever message carried it (e.g. one tracker comment)."""
    query = sa.select(outbound.c.message_id).where(outbound.c.kind == kind).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return find(engine, str(row[0]), kind) if row else None


def record(engine: Engine, item: Outbound) -> None:
    """Record the outcome of an outbound message; a second record for the same key updates it.

    One INSERT … ON CONFLICT DO UPDATE, so two jobs recording one key at once (a webhook delivered
    twice) leave one row on PostgreSQL too, where an update-then-insert would let both insert.
    """
    with engine.begin() as conn:
        record_in(conn, item)


def record_in(conn: sa.Connection, item: Outbound) -> None:
    """:func:`record` within the caller's transaction."""
    conn.execute(_upsert(conn.dialect.name), {**item.__dict__, "created_at": utcnow()})


@functools.cache
def _upsert(dialect: str) -> sa.Insert:
    insert = upsert_insert(dialect, outbound)
    return insert.on_conflict_do_update(
        index_elements=[outbound.c.message_id, outbound.c.kind],
        set_={name: insert.excluded[name] for name in ("status", "reason", "external_ref")},
    )


def by_external_ref(engine: Engine, channel: str, recipient: str, external_ref: str) -> Outbound | None:
    """What the hub sent that became ``external_ref`` (a Telegram message id) at ``recipient``."""
    query = sa.select(outbound).where(
        outbound.c.channel == channel,
        outbound.c.recipient == recipient,
        outbound.c.external_ref == external_ref,
    )
    with engine.connect() as conn:
        row = conn.execute(query.order_by(outbound.c.id.desc()).limit(1)).first()
    return _outbound(row) if row is not None else None


def for_message(engine: Engine, message_id: str) -> list[Outbound]:
    """Everything sent about one message (shown by the status API)."""
    query = sa.select(outbound).where(outbound.c.message_id == message_id).order_by(outbound.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [_outbound(row) for row in rows]


def for_issue(engine: Engine, tracker: str, issue_key: str) -> list[Outbound]:
    """Everything sent about an issue's tracker events: the engineers' replies that reached the customer."""
    events = sa.select(messages.c.id).where(messages.c.conversation_key == f"{tracker}:issue:{issue_key}")
    query = sa.select(outbound).where(outbound.c.message_id.in_(events)).order_by(outbound.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [_outbound(row) for row in rows]


def _outbound(row: sa.Row[Any]) -> Outbound:
    data = row._mapping
    return Outbound(**{name: data[name] for name in Outbound.__dataclass_fields__})
