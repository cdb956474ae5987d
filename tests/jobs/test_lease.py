"""The attempt lease and the sweep's bookkeeping: a live slow attempt is left alone, a lost job comes back.

The lease is what lets the sweep tell a dead worker's message from a slow one: a running attempt renews
it, a killed worker stops renewing. The sweep defers what it handed to the queue, so a long backlog is
looked at in bounded chunks and a job lost with Redis's data is enqueued again on the next look.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest

import jobs.attempts as attempts_module
from jobs.context import Context
from jobs.deliver import deliver_with
from jobs.periodic import SweepCursor, sweep
from jobs.queues import DELIVERY_QUEUE
from sandbox.server import RunningSandbox
from store import journal, leases
from tests.jobs.conftest import add_fault, journal_message, make_due, sandbox_issues
from tests.mappers.factories import telegram_message


def queued_job_ids(ctx: Context) -> list[bytes]:
    return list(ctx.redis.lrange(f"rq:queue:{DELIVERY_QUEUE}", 0, -1))


@pytest.mark.timeout(60)
def test_a_slow_attempt_renews_its_lease_and_lock_so_nothing_else_takes_the_message(
    ctx: Context, jira_sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts_module, "LEASE_SECONDS", 3)
    monkeypatch.setattr(attempts_module, "LEASE_RENEW_EVERY", 0.3)
    add_fault(jira_sandbox, latency_ms=6_000, count=1, methods=["POST"], paths=["/rest/api/2/issue"])
    message_id = journal_message(ctx, telegram_message("slow tracker"))
    ctx.redis.delete(f"rq:queue:{DELIVERY_QUEUE}")
    attempt = threading.Thread(target=deliver_with, args=(ctx, message_id))
    attempt.start()
    # the attempt outlives its first lease twice over while the tracker holds the create
    checks = 0
    lock = f"hub:lock:{journal.get(ctx.engine, message_id).conversation_key}"  # type: ignore[union-attr]
    while attempt.is_alive():
        lock_ttl = ctx.redis.pttl(lock)  # before the row: still queued after this, it was locked then
        entry = journal.get(ctx.engine, message_id)
        assert entry is not None
        # the claim counts the attempt before the lock is taken; once the create is sent it is held
        if entry.status == "queued" and entry.create_started_at is not None:
            assert journal.due_items(ctx.engine) == []
            assert lock_ttl > 0
            checks += 1
        attempt.join(0.5)
    assert checks >= 3
    assert journal.get(ctx.engine, message_id).status == "delivered"  # type: ignore[union-attr]
    assert len(sandbox_issues(jira_sandbox)) == 1


def test_renewing_never_pulls_a_scheduled_retry_earlier(ctx: Context) -> None:
    message_id = journal_message(ctx, telegram_message("rate limited"))
    leases.schedule_retry(ctx.engine, message_id, 900, "tracker asked to wait")
    leases.extend_leases(ctx.engine, [message_id], 30)
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.next_attempt_at is not None
    assert entry.next_attempt_at - journal.utcnow() > dt.timedelta(seconds=800)


def test_the_sweep_leaves_queued_jobs_alone_and_re_enqueues_jobs_lost_with_redis(ctx: Context) -> None:
    ids = [journal_message(ctx, telegram_message(f"m{n}", chat_id=500 + n)) for n in range(3)]
    make_due(ctx, *ids)
    assert sweep(ctx) == 0  # every job is already queued: nothing new to enqueue
    assert sweep(ctx) == 0  # and looking again changes nothing
    assert sorted(queued_job_ids(ctx)) == sorted(f"deliver-{i}".encode() for i in ids)

    ctx.redis.flushdb()  # Redis restarted without its data: the queued jobs are gone
    assert sweep(ctx) == 3
    assert sorted(queued_job_ids(ctx)) == sorted(f"deliver-{i}".encode() for i in ids)


def test_a_sweep_tick_hands_back_a_lost_backlog_page_after_page_within_its_budget(ctx: Context) -> None:
    ids = [journal_message(ctx, telegram_message(f"c{n}", chat_id=950 + n)) for n in range(7)]
    ctx.redis.flushdb()  # Redis restarted without its data
    make_due(ctx, *ids)
    cursor = SweepCursor()
    handed = sweep(ctx, chunk=3, budget=0.0, cursor=cursor)  # an exhausted budget: the head and a page
    assert 3 <= handed < 7 and cursor.after is not None
    for _ in range(3):  # the next ticks go on where that one stopped, until they have read to the end
        handed += sweep(ctx, chunk=3, cursor=cursor)
        if cursor.after is None:
            break
    assert handed == 7
    assert sorted(queued_job_ids(ctx)) == sorted(f"deliver-{i}".encode() for i in ids)


def test_the_ticks_take_turns_through_a_long_waiting_backlog_and_find_a_job_lost_in_it(ctx: Context) -> None:
    ids = [journal_message(ctx, telegram_message(f"q{n}", chat_id=980 + n)) for n in range(7)]
    make_due(ctx, *ids, in_order=True)  # the head of the backlog: the three oldest
    pages = [sorted(ids)[start : start + 3] for start in (0, 3, 6)]  # beyond it, read on in id order
    lost = next(i for page in reversed(pages) for i in page if i not in ids[:3] and page is not pages[0])
    ctx.redis.lrem(f"rq:queue:{DELIVERY_QUEUE}", 1, f"deliver-{lost}")
    ctx.redis.delete(f"rq:job:deliver-{lost}")  # lost, though the workers are only behind on the rest
    cursor = SweepCursor()
    found = [sweep(ctx, chunk=3, cursor=cursor) for _ in range(3)]
    assert found[0] == 0 and sum(found) == 1  # each tick reads the head and one page more, in turn
    assert queued_job_ids(ctx)[0] == f"deliver-{lost}".encode()  # back at the front of the queue


def test_every_tick_reads_the_head_of_the_backlog_where_workers_pop(ctx: Context) -> None:
    ids = [journal_message(ctx, telegram_message(f"h{n}", chat_id=990 + n)) for n in range(7)]
    make_due(ctx, *ids, in_order=True)
    cursor = SweepCursor()
    assert sweep(ctx, chunk=3, cursor=cursor) == 0
    assert cursor.after is not None  # the ticks have read on beyond the head
    head = ids[0]  # then a worker pops the oldest job and dies with it
    ctx.redis.lrem(f"rq:queue:{DELIVERY_QUEUE}", 1, f"deliver-{head}")
    assert sweep(ctx, chunk=3, cursor=cursor, wait=lambda _seconds: None) == 1


def test_the_next_tick_looks_again_at_what_the_last_one_handed_back(ctx: Context) -> None:
    """Handed back to the front of the queue, a job is popped first, wherever its row is in the backlog."""
    ids = [journal_message(ctx, telegram_message(f"w{n}", chat_id=995 + n)) for n in range(7)]
    make_due(ctx, *ids, in_order=True)
    retried = ids[-1]  # the newest of the backlog: not in the head
    ctx.redis.lrem(f"rq:queue:{DELIVERY_QUEUE}", 1, f"deliver-{retried}")
    ctx.redis.delete(f"rq:job:deliver-{retried}")
    cursor = SweepCursor()
    assert sweep(ctx, chunk=10, cursor=cursor) == 1
    assert cursor.handed_back == [retried]
    ctx.redis.lpop(f"rq:queue:{DELIVERY_QUEUE}")  # a worker pops it first, and dies with it
    cursor.after = sorted(ids)[-1]  # and the ticks' reading on through the rest is past it
    assert sweep(ctx, chunk=3, cursor=cursor, wait=lambda _seconds: None) == 1  # not in the head: handed back
    assert queued_job_ids(ctx)[0] == f"deliver-{retried}".encode()


def test_the_journal_lease_is_renewed_even_when_redis_lost_the_lock(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempts_module, "LEASE_RENEW_EVERY", 0.05)
    message_id = journal_message(ctx, telegram_message("long attempt", chat_id=990))
    lock = ctx.redis.lock("hub:lock:test-renew", timeout=30, thread_local=False)
    assert lock.acquire(blocking=False)
    ctx.redis.flushdb()  # Redis restarted without its data: extending the lock fails from now on
    with attempts_module.lease_kept(ctx, [(message_id, lock)]):
        time.sleep(0.3)
    entry = journal.get(ctx.engine, message_id)
    assert entry is not None and entry.next_attempt_at is not None
    assert entry.next_attempt_at - journal.utcnow() > dt.timedelta(seconds=attempts_module.LEASE_SECONDS - 5)
