"""``trackerhub replay``: put dead letters back in the queue.

A message that failed to parse was journaled with its raw bytes and a placeholder; replay parses the raw
bytes again first (the parser may have been fixed since), so nothing a customer sent is lost for good.
"""

from __future__ import annotations

import json

from jobs.context import Context
from jobs.delivery_jobs import enqueue_delivery
from jobs.intake import unparsed_key
from mappers.email import parse_email
from mappers.errors import MapperError
from mappers.models import Channel, InboundMessage
from mappers.telegram import parse_update
from store import journal, leases
from store.db import messages


def replay_messages(
    ctx: Context, message_ids: list[str], *, replay_all: bool = False
) -> list[tuple[str, str]]:
    """Requeue the given dead letters (or all); return (id, outcome) pairs."""
    ids = journal.failed_ids(ctx.engine) if replay_all else message_ids
    return [(message_id, _replay_one(ctx, message_id)) for message_id in ids]


def _replay_one(ctx: Context, message_id: str) -> str:
    entry = journal.get(ctx.engine, message_id)
    if entry is None:
        return "unknown id"
    if entry.status != journal.FAILED:
        return f"not a dead letter ({entry.status})"
    if entry.conversation_key == unparsed_key(Channel(entry.channel)) and entry.raw_blob_id:
        reparsed = _reparse(ctx, entry)
        if isinstance(reparsed, str):
            return reparsed
        with ctx.engine.begin() as conn:
            conn.execute(
                messages.update()
                .where(messages.c.id == message_id)
                .values(
                    body=reparsed.model_dump_json(),
                    conversation_key=reparsed.conversation_key,
                    kind=reparsed.kind.value,
                )
            )
    leases.requeue(ctx.engine, message_id)
    enqueue_delivery(ctx.redis, message_id)
    return "requeued"


def _reparse(ctx: Context, entry: journal.Entry) -> InboundMessage | str:
    raw = journal.get_blob(ctx.engine, entry.raw_blob_id or "")
    if raw is None:
        return "raw payload missing"
    try:
        if entry.channel == "email":
            return parse_email(raw, received_at=entry.created_at, own_domain=ctx.settings.email_domain)
        if entry.channel == "telegram":
            return parse_update(
                json.loads(raw), received_at=entry.created_at, bot_id=ctx.settings.telegram_bot_id
            )
    except (MapperError, ValueError) as exc:
        return f"still unparseable: {exc}"
    except Exception as exc:  # the parser is still broken for this input
        return f"parser error: {type(exc).__name__}"
    return "cannot re-parse this channel"
