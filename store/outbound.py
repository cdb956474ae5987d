"""The outbound log: one row per (message, kind) the hub sent to a customer, so a retry never sends twice."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from store.db import outbound
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
    if row is None:
        return None
    data = row._mapping
    return Outbound(
        message_id=data["message_id"],
        kind=data["kind"],
        channel=data["channel"],
        recipient=data["recipient"],
        status=data["status"],
        reason=data["reason"],
        external_ref=data["external_ref"],
    )


def find_kind(engine: Engine, kind: str) -> Outbound | None:
    """What the hub did for an outbound key whatever message carried it (e.g. one tracker comment)."""
    query = sa.select(outbound.c.message_id).where(outbound.c.kind == kind).limit(1)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return find(engine, str(row[0]), kind) if row else None


def record(engine: Engine, item: Outbound) -> None:
    """Record the outcome of an outbound message; a second record for the same key updates it."""
    values = {**item.__dict__, "created_at": utcnow()}
    with engine.begin() as conn:
        updated = conn.execute(
            outbound.update()
            .where(outbound.c.message_id == item.message_id, outbound.c.kind == item.kind)
            .values(status=item.status, reason=item.reason, external_ref=item.external_ref)
        )
        if updated.rowcount == 0:
            conn.execute(outbound.insert().values(**values))


def for_message(engine: Engine, message_id: str) -> list[Outbound]:
    """Everything sent about one message (shown by the status API)."""
    query = sa.select(outbound).where(outbound.c.message_id == message_id).order_by(outbound.c.id)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        Outbound(
            message_id=r.message_id,
            kind=r.kind,
            channel=r.channel,
            recipient=r.recipient,
            status=r.status,
            reason=r.reason,
            external_ref=r.external_ref,
        )
        for r in rows
    ]
