"""Periodic work: the journal sweep and the IMAP poll, and the scheduler loop that runs them.

The sweep is what makes the journal the source of truth: every queued message whose next attempt is
due is (re-)enqueued, whether its first enqueue failed (Redis was down), its job was lost (a worker was
killed), or it is waiting out a retry delay.
"""

from __future__ import annotations

import logging
import secrets
import time

from redis.exceptions import RedisError
from rq.scheduler import RQScheduler
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import ChannelUnavailable
from connector.mail import Mailbox
from jobs.context import Context, get_context
from jobs.heartbeat import record_scheduler_tick
from jobs.intake import accept, accept_unparsed, received_now
from jobs.queues import ALL_QUEUES, enqueue_delivery
from mappers.email import parse_email
from mappers.errors import MapperError
from mappers.models import Channel
from store import journal

log = logging.getLogger(__name__)

SWEEP_EVERY = 5.0
RECHECK_AFTER = 10.0  # seconds before the sweep looks again at a message it handed to the queue
SWEEP_CHUNK = 500  # due rows read at a time
SWEEP_BUDGET = 2.0  # seconds of a tick the sweep may spend on a long backlog
IMAP_EVERY = 60.0
SCHEDULER_LOCK = "hub:scheduler"


def sweep(ctx: Context, *, budget: float = SWEEP_BUDGET, chunk: int = SWEEP_CHUNK) -> int:
    """Enqueue every queued message that is due; return how many were enqueued.

    Due rows are taken ``chunk`` at a time, oldest first. While chunks turn up lost jobs (Redis restarted
    without its data) the tick goes on, for up to ``budget`` seconds, so such a backlog is handed back at
    thousands a second, faster than the workers drain it; a chunk whose jobs are all still queued (the
    workers are behind, the usual backlog) ends the tick. Each message looked at is deferred by
    ``RECHECK_AFTER``: its job is queued now (by this tick or before), so the next chunk and the next
    ticks move on to the rest instead of asking Redis about the same oldest rows again. If the job is
    lost anyway, the next look re-enqueues it.
    """
    started = time.monotonic()
    count = 0
    while True:
        now = journal.utcnow()
        items = journal.due_items(ctx.engine, now, limit=chunk)
        # Due means no live job renews its lease: a job RQ still calls started is a dead worker's.
        enqueued = sum(enqueue_delivery(ctx.redis, item.id, lease_expired=True) for item in items)
        journal.defer(ctx.engine, [item.id for item in items], RECHECK_AFTER, due_at=now)
        count += enqueued
        if len(items) < chunk or not enqueued or time.monotonic() - started >= budget:
            break
    if count:
        log.info("sweep.enqueued count=%d", count)
    return count


def poll_imap(ctx: Context) -> int:
    """Journal every unseen mail of ``IMAP_URL``; flag each Seen only after its row is committed."""
    if not ctx.settings.IMAP_URL:
        return 0
    count = 0
    with Mailbox(ctx.settings.IMAP_URL) as mailbox:
        for mail in mailbox.unseen():
            try:
                accept_raw_email(ctx, mail.raw)
            except SQLAlchemyError as exc:
                # Not journaled, so not flagged: it stays unseen and the next poll tries again. One
                # mail the journal refuses must not hold back the mail behind it.
                log.error("imap.journal-failed uid=%s error=%s", mail.uid, type(exc).__name__)
                continue
            mailbox.mark_seen(mail.uid)
            count += 1
    if count:
        log.info("imap.polled count=%d", count)
    return count


def accept_raw_email(ctx: Context, raw: bytes) -> str:
    """Parse and journal one raw mail; an unparseable one becomes a dead letter, never a loss."""
    try:
        message = parse_email(raw, received_at=received_now(), own_domain=ctx.settings.email_domain)
    except MapperError as exc:
        external_id = "sha256:" + journal.blob_id_for(raw)
        return accept_unparsed(
            ctx.engine, ctx.redis, Channel.EMAIL, raw, external_id, f"unparseable: {exc}"
        ).id
    return accept(ctx.engine, ctx.redis, message, raw).id


def poll_imap_job() -> int:
    """RQ entry point for the IMAP poll."""
    return poll_imap(get_context())


def run_scheduler(ctx: Context, *, stop_after: float | None = None) -> None:
    """Run the sweep every few seconds and the IMAP poll every minute, as the one active scheduler.

    It also moves RQ's scheduled jobs (the reply jobs' retries) to their queues, which RQ would otherwise
    do in a process each worker forks (``with_scheduler``). Workers do not fork it: a forked child
    inherits the worker's blocked BLPOP connection, so when the worker is SIGKILLed the orphan keeps the
    socket open and Redis hands the next job to a reader that no longer exists.
    """
    started = time.monotonic()
    next_imap = 0.0
    token = secrets.token_hex(8)
    rq_scheduler = RQScheduler(list(ALL_QUEUES), connection=ctx.redis, interval=int(SWEEP_EVERY))
    while stop_after is None or time.monotonic() - started < stop_after:
        try:
            if _hold_scheduler_lock(ctx, token):
                record_scheduler_tick(ctx.redis)
                rq_scheduler.acquire_locks()
                rq_scheduler.enqueue_scheduled_jobs()
                sweep(ctx)
                if time.monotonic() >= next_imap:
                    next_imap = time.monotonic() + IMAP_EVERY
                    _poll_safely(ctx)
        except RedisError as exc:
            log.warning("scheduler.redis-unavailable error=%s", type(exc).__name__)
        except Exception:
            log.exception("scheduler.tick-failed")
        time.sleep(SWEEP_EVERY)


def _hold_scheduler_lock(ctx: Context, token: str) -> bool:
    """Take or keep the scheduler lock; another scheduler's live lock means stand by."""
    ttl = int(SWEEP_EVERY * 3)
    if ctx.redis.set(SCHEDULER_LOCK, token, nx=True, ex=ttl):
        return True
    if ctx.redis.get(SCHEDULER_LOCK) == token.encode():
        ctx.redis.expire(SCHEDULER_LOCK, ttl)
        return True
    return False


def _poll_safely(ctx: Context) -> None:
    try:
        poll_imap(ctx)
    except ChannelUnavailable as exc:
        log.warning("imap.unavailable reason=%s", exc)
