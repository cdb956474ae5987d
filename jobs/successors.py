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
from redis.lock import Lock

from jobs.context import Context
from jobs.delivery_jobs import enqueue_delivery
from jobs.queues import run_script

log = logging.getLogger(__name__)

AFTER_PREFIX = "hub:after:"
AFTER_TTL = 3600  # seconds: a message queued for longer than this is the sweep's anyway


def wait_behind(ctx: Context, before: str, message_id: str) -> None:
    """Note that ``message_id`` waits for ``before``, the message of its conversation right before it."""
    try:
        ctx.redis.set(f"{AFTER_PREFIX}{before}", message_id, ex=AFTER_TTL)
    except RedisError as exc:
        log.warning("deliver.wait-unrecorded message_id=%s error=%s", message_id, type(exc).__name__)


# KEYS: the conversation lock, the ``hub:after:`` key of the message; ARGV: the lock's token, "1" to take
# the waiting message's id. What redis-py's ``Lock.release`` script does (delete the lock only while it
# still holds this token), and the GET and DEL of the waiting id, in one round trip.
_RELEASE_AND_TAKE_LUA = """
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = 1
end
local waiting = false
if ARGV[2] == '1' then
  waiting = redis.call('GET', KEYS[2])
  if waiting then redis.call('DEL', KEYS[2]) end
end
return {released, waiting}
"""


def release_and_wake(ctx: Context, lock: Lock, message_id: str, *, done: bool) -> str | None:
    """Release the conversation's lock and, when ``message_id`` is ``done``, enqueue the message that
    waited for it; that message's id, if one waited. One round trip when none waited."""
    token = lock.local.token
    keys = (lock.name, f"{AFTER_PREFIX}{message_id}")
    try:
        args = (token or b"", "1" if done else "0")
        released, waiting = run_script(ctx.redis, _RELEASE_AND_TAKE_LUA, keys, args)
    except RedisError as exc:
        log.warning("deliver.lock-release-failed message_id=%s error=%s", message_id, type(exc).__name__)
        return None  # the lock expires with its lease; the waiting message is the sweep's
    lock.local.token = None
    if not released:
        log.warning("deliver.lock-expired message_id=%s", message_id)
    if not waiting:
        return None
    successor = waiting.decode()
    try:
        enqueue_delivery(ctx.redis, successor)
    except RedisError as exc:
        log.warning("deliver.successor-not-woken message_id=%s error=%s", message_id, type(exc).__name__)
        return None
    log.info("deliver.successor-woken message_id=%s successor=%s", message_id, successor)
    return successor
