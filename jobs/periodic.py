"""Periodic work: the journal sweep and the IMAP poll, the hub's registry of periodic jobs, and the
scheduler loop that runs them (jobs/registry.py).

The sweep is what makes the journal the source of truth: every queued message whose next attempt is
due is (re-)enqueued, whether its first enqueue failed (Redis was down), its job was lost (a worker was
killed), or it is waiting out a retry delay; and whatever a killed worker held is freed at the next tick,
lease or not. jobs/recovery.py lists every state a kill can leave and what the sweep does about it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from redis.exceptions import RedisError
from rq.scheduler import RQScheduler
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import ChannelUnavailable
from connector.mail import Mailbox
from jobs.automations.periodic import register_automation_jobs
from jobs.clock import epoch, utcnow
from jobs.context import Context, get_context
from jobs.csat import enqueue_due
from jobs.heartbeat import record_scheduler_tick
from jobs.intake import accept, accept_unparsed, received_now
from jobs.queues import ALL_QUEUES
from jobs.reconcile import enqueue_reconcile
from jobs.recovery import (
    UNSEEN_CONFIRM,
    Presence,
    confirm_unseen,
    live_workers,
    look_at_due,
    recover_dead_holders,
)
from jobs.registry import Every, Registry, run_due
from jobs.reports.schedule import register_report_jobs
from jobs.routing.sweep import sweep_routes
from mappers.email import parse_email
from mappers.errors import MapperError
from mappers.models import Channel
from store import journal

log = logging.getLogger(__name__)

SWEEP_EVERY = 5.0
SWEEP_CHUNK = 1000  # due rows read, and their jobs looked up in one Redis script, at a time
SWEEP_BUDGET = 2.0  # seconds of a tick the sweep may spend on a long backlog whose jobs were lost
IMAP_EVERY = 60.0
CSAT_EVERY = 10.0  # one indexed read of the due surveys
SCHEDULER_LOCK = "hub:scheduler"


@dataclass
class SweepCursor:
    """What one tick leaves the next: how far the ticks have read through a backlog beyond its head (a
    message id: the rest is read in id order), and the messages it handed back to the queue."""

    after: str | None = None
    handed_back: list[str] = field(default_factory=list)


def sweep(
    ctx: Context,
    *,
    budget: float = SWEEP_BUDGET,
    chunk: int = SWEEP_CHUNK,
    wait: Callable[[float], None] = time.sleep,
    cursor: SweepCursor | None = None,
) -> int:
    """Give every due queued message whose job will never run it a new job; return how many.

    First what gone workers held (``recover_dead_holders``: their locks, jobs and bulk companions, leased
    or not). Then due rows, a page of ``chunk`` at a time, each page's jobs looked up where they really
    are in one Redis script (``look_at_due``); nothing is written for a job that waits. Every tick reads
    where a job a worker popped and took with it when it died can be:

    - the head of the backlog, the oldest due rows: their jobs are at the head of the queue, where
      workers pop;
    - the messages the last tick handed back (``cursor``; the scheduler keeps one): their new jobs went
      to the front of the queue, whenever they fell due.

    Then it reads on through the rest, from where the last tick stopped: a page a tick while their jobs
    only wait, page after page for up to ``budget`` seconds while pages turn up lost jobs (Redis restarted
    without its data: such a backlog is handed back at thousands a second). A job no worker has
    registered is looked at again ``UNSEEN_CONFIRM`` seconds later, at the end of the tick (``wait``: time
    passing; a test passes its own). One row Redis refuses is logged with its message id and skipped: it
    never ends the tick. Measured on 2 CPUs, SQLite: a tick over a 10,000-message backlog whose jobs all
    wait (two pages of 1,000) takes 50 to 100 ms, a third of it Redis's, and a job lost deep in it is
    found within 7 ticks; looking each job up with three round trips, as before, took 0.3 s for the
    first 500.
    """
    started = time.monotonic()
    cursor = cursor or SweepCursor()
    presence = live_workers(ctx.redis)
    handed = _recover_dead_holders(ctx, presence)
    now = journal.utcnow()
    head = [item.id for item in journal.due_items(ctx.engine, now, limit=chunk)]  # oldest first
    first = list(dict.fromkeys([*head, *_still_due(ctx, cursor.handed_back, now)]))
    look = look_at_due(ctx.redis, first, presence)
    handed += look.enqueued
    unseen = list(look.unseen)
    first_unseen = time.monotonic()
    while len(head) == chunk:  # more than the head: read on where the last tick stopped
        page = journal.due_after(ctx.engine, cursor.after or "", now, limit=chunk)
        look = look_at_due(ctx.redis, page, presence)
        handed += look.enqueued
        if look.unseen and not unseen:
            first_unseen = time.monotonic()
        unseen += look.unseen
        cursor.after = page[-1] if len(page) == chunk else None  # a short page: from the start next time
        lost = look.enqueued or look.unseen
        if cursor.after is None or not lost or time.monotonic() - started >= budget:
            break
    if unseen:
        wait(max(0.0, UNSEEN_CONFIRM - (time.monotonic() - first_unseen)))
        confirmed = confirm_unseen(ctx.redis, unseen)
        for message_id in confirmed:
            log.warning("sweep.unseen-job-replaced message_id=%s", message_id)
        handed += confirmed
    cursor.handed_back = handed
    if handed:
        log.info("sweep.enqueued count=%d", len(handed))
    return len(handed)


def _still_due(ctx: Context, message_ids: list[str], now: dt.datetime) -> list[str]:
    """Those of these messages that are still queued and due."""
    entries = journal.get_many(ctx.engine, message_ids) if message_ids else []
    return [e.id for e in entries if e.status == journal.QUEUED and (e.next_attempt_at or now) <= now]


def _recover_dead_holders(ctx: Context, presence: Presence | None) -> list[str]:
    """``recover_dead_holders``, which must not keep the due rows from being looked at if it fails."""
    try:
        return recover_dead_holders(ctx, presence)
    except (RedisError, SQLAlchemyError):
        raise  # Redis or the journal is down: the whole tick waits for them
    except Exception:
        log.warning("sweep.dead-holders-failed", exc_info=True)
        return []


def poll_imap(ctx: Context) -> int:
    """Journal every unseen mail of ``IMAP_URL``; flag each Seen only after its row is committed."""
    imap_url = ctx.settings.secret("IMAP_URL")
    if not imap_url:
        return 0
    count = 0
    with Mailbox(imap_url) as mailbox:
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


def hub_jobs(ctx: Context, rq_scheduler: RQScheduler, cursor: SweepCursor) -> Registry:
    """The hub's periodic jobs, in the order a tick runs them.

    - ``heartbeat``: the tick's time, for workers and ``/healthz`` (jobs/heartbeat.py);
    - ``rq-scheduled``: RQ's scheduled jobs (the reply jobs' retries) to their queues;
    - ``sweep``: due journal rows whose jobs will never run get new ones;
    - ``routes-sweep``: routing requests whose lease ran out get new jobs (jobs/routing/sweep.py);
    - ``imap``: the IMAP poll, every minute;
    - ``events-reconcile``: polling for what the trackers' webhooks did not bring (jobs/reconcile.py);
    - ``automations-scan`` / ``automations-sweep``: the automation rules (jobs/automations/);
    - ``csat``: CSAT surveys whose quiet period is over, and ratings whose effects are undone (jobs/csat.py);
    - ``weekly-report``: the weekly report's firing when its due time passed (jobs/reports/schedule.py).
    """
    registry = Registry()
    registry.register("heartbeat", Every(0), lambda: record_scheduler_tick(ctx.redis))
    registry.register("rq-scheduled", Every(0), lambda: _move_scheduled(rq_scheduler))
    registry.register("sweep", Every(SWEEP_EVERY), lambda: sweep(ctx, cursor=cursor))
    registry.register("routes-sweep", Every(SWEEP_EVERY), lambda: sweep_routes(ctx))
    registry.register("imap", Every(IMAP_EVERY), lambda: _poll_safely(ctx))
    if ctx.settings.HUB_RECONCILE_SECONDS:  # 0: webhooks only
        every = Every(float(ctx.settings.HUB_RECONCILE_SECONDS))
        registry.register("events-reconcile", every, lambda: enqueue_reconcile(ctx.redis))
    register_automation_jobs(registry, ctx)
    registry.register("csat", Every(CSAT_EVERY), lambda: enqueue_due(ctx, utcnow()))
    register_report_jobs(registry, ctx)
    return registry


def run_scheduler(
    ctx: Context,
    *,
    stop_after: float | None = None,
    ticks: int | None = None,
    clock: Callable[[], float] = epoch,
    wait: Callable[[float], None] = time.sleep,
) -> None:
    """Run the registered periodic jobs (``hub_jobs``) as they fall due, as the one active scheduler.

    It also moves RQ's scheduled jobs (the reply jobs' retries) to their queues, which RQ would otherwise
    do in a process each worker forks (``with_scheduler``). Workers do not fork it: a forked child
    inherits the worker's blocked BLPOP connection, so when the worker is SIGKILLed the orphan keeps the
    socket open and Redis hands the next job to a reader that no longer exists. ``ticks`` and ``clock``
    are the tests' (a number of ticks, the time the jobs' schedules read).
    """
    started = time.monotonic()
    token = scheduler_token()
    rq_scheduler = RQScheduler(list(ALL_QUEUES), connection=ctx.redis, interval=int(SWEEP_EVERY))
    registry = hub_jobs(ctx, rq_scheduler, SweepCursor())
    tick = 0
    while (stop_after is None or time.monotonic() - started < stop_after) and (ticks is None or tick < ticks):
        tick += 1
        try:
            if _hold_scheduler_lock(ctx, token):
                run_due(ctx.redis, registry, clock())
        except RedisError as exc:
            log.warning("scheduler.redis-unavailable error=%s", type(exc).__name__)
        except Exception:
            log.exception("scheduler.tick-failed")
        wait(SWEEP_EVERY)


def _move_scheduled(rq_scheduler: RQScheduler) -> None:
    rq_scheduler.acquire_locks()
    rq_scheduler.enqueue_scheduled_jobs()


def scheduler_token() -> str:
    """What a scheduler writes in the lock it holds: its host and pid (``redis-cli get hub:scheduler``
    tells an operator which node's scheduler is active) and a random part, unique per run."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(8)}"


def scheduler_pid(token: str) -> int | None:
    """The pid a scheduler lock's value names; None for a value of another form."""
    parts = token.split(":")
    return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None


def _hold_scheduler_lock(ctx: Context, token: str) -> bool:
    """Take or keep the scheduler lock; another scheduler's live lock means stand by."""
    ttl = int(SWEEP_EVERY * 3)
    if ctx.redis.set(SCHEDULER_LOCK, token, nx=True, ex=ttl):
        log.info("scheduler.active holder=%s", token.rsplit(":", 1)[0])
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
