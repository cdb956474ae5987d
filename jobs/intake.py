"""Accepting a parsed message: journal it (with its files), then enqueue its delivery.

The one path every inbound channel takes, from a request or from the IMAP poll. The journal write comes
first and is the only thing that must succeed: when Redis is down the row waits and the sweep enqueues
it later.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy.engine import Engine

from jobs.delivery_jobs import enqueue_delivery
from mappers.models import Channel, InboundMessage
from mappers.tracker_events import TrackerEvent
from store import journal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    """The answer to a sender: the message id, its status, and whether it was seen before."""

    id: str
    status: str
    duplicate: bool = False


def accept(
    engine: Engine,
    redis: Redis | None,
    message: InboundMessage,
    raw: bytes | None = None,
    *,
    status: str = journal.QUEUED,
    reason: str | None = None,
) -> Accepted:
    """Journal ``message`` and enqueue it; a repeat of a known external id is answered from the journal."""
    files = [a.data for a in message.attachments if a.data is not None]
    stored = message
    if files:  # the journal keeps the bytes as blobs, the body only their ids (most messages have none)
        stored = message.model_copy(
            update={
                "attachments": [
                    a.model_copy(update={"blob_id": journal.blob_id_for(a.data), "data": None})
                    if a.data is not None
                    else a
                    for a in message.attachments
                ]
            }
        )
    entry = journal.NewEntry(
        channel=message.channel.value,
        external_id=message.external_id,
        conversation_key=message.conversation_key,
        kind=message.kind.value,
        body=stored.model_dump_json(),
        status=status,
        reason=reason,
        raw=raw,
    )
    return _journal_and_enqueue(engine, redis, entry, files)


def unparsed_key(channel: Channel) -> str:
    """The conversation key of a payload kept raw because it could not be parsed (replay re-parses it)."""
    return f"{channel.value}:unparsed"


def accept_unparsed(
    engine: Engine, redis: Redis | None, channel: Channel, raw: bytes, external_id: str, reason: str
) -> Accepted:
    """Keep a payload that could not be parsed as a dead letter with its raw bytes: never a loss."""
    placeholder = InboundMessage(
        channel=channel,
        external_id=external_id,
        conversation_key=unparsed_key(channel),
        received_at=received_now(),
    )
    return accept(engine, redis, placeholder, raw, status=journal.FAILED, reason=reason)


def accept_event(engine: Engine, redis: Redis | None, event: TrackerEvent, raw: bytes) -> Accepted:
    """Journal a tracker webhook event and enqueue it, exactly like a customer message.

    Events of one issue share a conversation key, so the worker handles them one at a time.
    """
    entry = journal.NewEntry(
        channel=event.tracker,
        external_id=event.event_id,
        conversation_key=f"{event.tracker}:issue:{event.issue_key or event.issue_id or 'unknown'}",
        kind=event.kind,
        body=event.model_dump_json(),
        raw=raw,
    )
    return _journal_and_enqueue(engine, redis, entry, [])


def _journal_and_enqueue(
    engine: Engine, redis: Redis | None, entry: journal.NewEntry, files: list[bytes]
) -> Accepted:
    try:
        message_id, _ = journal.record(engine, entry, files)
    except journal.DuplicateMessage as dup:
        log.info("intake.duplicate message_id=%s channel=%s", dup.message_id, entry.channel)
        return Accepted(dup.message_id, dup.status, duplicate=True)
    enqueued = False
    if entry.status == journal.QUEUED and redis is not None:
        try:
            enqueued = enqueue_delivery(redis, message_id)
        except RedisError as exc:
            # the row is committed: the sweep enqueues it once its next_attempt_at grace has passed
            log.warning("intake.enqueue-failed message_id=%s error=%s", message_id, type(exc).__name__)
    log.info(
        "intake.accepted message_id=%s channel=%s kind=%s status=%s enqueued=%s",
        message_id,
        entry.channel,
        entry.kind,
        entry.status,
        "yes" if enqueued else "no",
    )
    return Accepted(message_id, entry.status)


def received_now() -> dt.datetime:
    """The receive time stamped on inbound messages."""
    return journal.utcnow()
