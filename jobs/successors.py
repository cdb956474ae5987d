"""A conversation's next message, sent on as soon as the one it waited for is done.

Within a conversation the first in is delivered first (jobs/deliver.py): a follow-up whose earlier
message is still queued waits, and the sweep would try it again at its next tick after a short delay.
A burst of one chat's messages would then go at one per tick (about 5 s each). Instead the waiting
message leaves its id under the message right before it (``hub:after:<id>``), and the job that finishes
that message enqueues it at once, so a burst goes through as fast as the tracker takes it. This is only
about speed: a lost key, a Redis error or a wake that came too early leaves the message to the sweep,
as before.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError

from jobs.context import Context
from jobs.delivery_jobs import enqueue_delivery

log = logging.getLogger(__name__)

AFTER_PREFIX = "hub:after:"
AFTER_TTL = 3600  # seconds: a message queued for longer than this is the sweep's anyway


def wait_behind(ctx: Context, before: str, message_id: str) -> None:
    """Note that ``message_id`` waits for ``before``, the message of its conversation right before it."""
    try:
        ctx.redis.set(f"{AFTER_PREFIX}{before}", message_id, ex=AFTER_TTL)
    except RedisError as exc:
        log.warning("deliver.wait-unrecorded message_id=%s error=%s", message_id, type(exc).__name__)


def wake_successor(ctx: Context, message_id: str) -> str | None:
    """Enqueue the message that waited for ``message_id``, now done; its id, if one waited."""
    try:
        with ctx.redis.pipeline(transaction=True) as pipe:
            pipe.get(f"{AFTER_PREFIX}{message_id}")
            pipe.delete(f"{AFTER_PREFIX}{message_id}")
            waiting, _ = pipe.execute()
        if waiting is None:
            return None
        successor = waiting.decode()
        enqueue_delivery(ctx.redis, successor)
    except RedisError as exc:
        log.warning("deliver.successor-not-woken message_id=%s error=%s", message_id, type(exc).__name__)
        return None
    log.info("deliver.successor-woken message_id=%s successor=%s", message_id, successor)
    return successor
